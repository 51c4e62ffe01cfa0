"""One model, raw rows in: the table's preprocessing, then the plugin's estimator.

- numbers: the median where missing, then scaled for the estimators that need it (a spec's
  ``scaling``: linear models, SVR, k-NN); trees and boosting get them as they are;
- categories (text, booleans): the most frequent value where missing, then one column per
  value (``OneHotEncoder``): a value never seen in training gets none of them, and a text
  column's rarest values beyond the cap share one column; an estimator whose plugin takes
  categories natively (``categories="native"``) gets them as ordinal codes instead (NaN
  where missing or unseen), in the first columns: one column each, however many values.
  (hist-gb is not told they are categorical: its own categorical support keeps a
  ``functools.partial`` in the model, a type trackfit does not trust.) Trees take
  ``categories="ordinal"``: the most frequent value where missing, then the value's code,
  -1 for one never seen in training; one column per text column, so a forest weighs a few
  columns at each split, not one per value (on diamonds: 9, not 26; faster, and as good).
- dates: their parts (year, month, day, day of week), the median where missing.

The encoders get their cap (``max_categories``) only when a text column of the training rows
has at least that many values (counted once, by pandas): with fewer, no fit on those rows or
on a fold of them groups any value, and asking for the cap makes scikit-learn count every
value of every column in Python at each fit (ten times the encoder's fit without it).

The lab's table needs none of it: its model stays the bare estimator.
"""

from ..engines.table import CATEGORY, CATEGORY_CAP, DATE, NUMBER


def build(table, spec, estimator, rows=None):
    """The model to fit for ``table``: ``estimator`` itself for the lab's table, else a
    Pipeline of ("prepare", ColumnTransformer) and ("model", estimator). ``rows``: the
    training rows it will be fitted on (or folds of), for :func:`category_cap`."""
    if table is None or table.lab:
        return estimator
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    scaled = [("scale", StandardScaler())] if spec.scaling else []
    parts = []
    categories = table.columns(CATEGORY)
    native = spec.categories == "native"
    cap = category_cap(categories, rows)
    if categories and native:
        parts.append(("category", OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=np.nan,
            encoded_missing_value=np.nan, max_categories=cap), categories))
    elif categories and spec.categories == "ordinal":
        parts.append(("category", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                      max_categories=cap)),
        ]), categories))
    elif categories:
        parts.append(("category", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="infrequent_if_exist",
                                     max_categories=cap, sparse_output=False)),
        ]), categories))
    numbers = table.columns(NUMBER)
    if numbers:
        parts.append(("number", Pipeline([
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            *scaled]), numbers))
    dates = table.columns(DATE)
    if dates:
        from ..estimators.preprocessing import DateParts

        parts.append(("date", Pipeline([
            ("parts", DateParts()),
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            *scaled]), dates))
    prepare = ColumnTransformer(parts, remainder="drop", sparse_threshold=0)
    return Pipeline([("prepare", prepare), ("model", estimator)])


def category_cap(categories, rows=None):
    """The encoders' ``max_categories``: CATEGORY_CAP, or None when no column of
    ``categories`` in ``rows`` has as many values (missing counted as one), where the cap
    would group none (scikit-learn groups from CATEGORY_CAP values up: the rarest share the
    last column). Without ``rows``, the cap."""
    if rows is None or any(rows[name].nunique(dropna=False) >= CATEGORY_CAP
                           for name in categories):
        return CATEGORY_CAP
    return None


def estimator_of(model):
    """The plugin's estimator inside a model ``build`` made."""
    from sklearn.pipeline import Pipeline

    return model.steps[-1][1] if isinstance(model, Pipeline) else model
