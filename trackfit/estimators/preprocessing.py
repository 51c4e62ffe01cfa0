"""The preprocessing inside every model trackfit logs, and the types it is made of.

A logged model is one scikit-learn ``Pipeline``: a ``ColumnTransformer`` (step "prepare")
that turns raw columns into numbers, then the plugin's estimator (step "model"). The
transformers it may hold are scikit-learn's imputers, encoders and scaler, and ``DateParts``
below. ``TYPES`` names them the way a plugin names its ``trusted_types``: skops may load them
in any model, and the walk (trackfit.estimators.checks) checks each before a predict.
"""

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .builtin import PREPROCESSING

PARTS = ("year", "month", "day", "dayofweek")


class DateParts(TransformerMixin, BaseEstimator):
    """Date or time text -> four numbers per column: year, month, day, day of week (Monday 0).

    A value that is missing or does not parse as a date gives NaN in all four (an imputer
    after it fills them). Fitting learns only the columns' names and count.
    """

    def fit(self, X, y=None):
        columns = getattr(X, "columns", None)
        width = np.shape(X)[1] if np.ndim(X) == 2 else None
        if width is None:
            raise ValueError(f"DateParts takes a table of columns, not an array of shape "
                             f"{np.shape(X)}")
        self.n_features_in_ = int(width)
        if columns is not None and all(isinstance(name, str) for name in columns):
            self.feature_names_in_ = np.asarray(list(columns), dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self

    def transform(self, X):
        width = np.shape(X)[1] if np.ndim(X) == 2 else None
        if width != getattr(self, "n_features_in_", None):
            raise ValueError(f"DateParts was fitted on {getattr(self, 'n_features_in_', 0)} "
                             f"columns, not {width}")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
        out = np.full((len(frame), 4 * width), np.nan)
        for at in range(width):
            dates = parse_dates(frame.iloc[:, at])
            for part, name in enumerate(PARTS):
                out[:, 4 * at + part] = getattr(dates.dt, name).to_numpy(dtype=float,
                                                                        na_value=np.nan)
        return out

    def get_feature_names_out(self, input_features=None):
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", None)
        if input_features is None:
            input_features = [f"x{at}" for at in range(self.n_features_in_)]
        return np.asarray([f"{name}_{part}" for name in input_features for part in PARTS],
                          dtype=object)


def parse_dates(values):
    """``values`` (a column) as datetimes, NaT where missing or not a date; any mix of
    formats, time zones converted to UTC."""
    series = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(series):
        return series if series.dt.tz is None else series.dt.tz_convert("UTC")
    text = series.astype(object).where(series.notna(), None)
    text = text.map(lambda value: value if value is None else str(value))
    return pd.to_datetime(text, errors="coerce", format="mixed", utc=True)


# The type names a logged model's preprocessing may hold beyond its estimator's own, declared
# by the built-in plugin (builtin.PREPROCESSING, importable without scikit-learn) and trusted
# by trackfit.trust for every estimator's models.
TYPES = list(PREPROCESSING)


def trusted_types(spec):
    """What a model of ``spec`` wrapped in the preprocessing tells skops to trust: the spec's
    own types, then TYPES."""
    return list(dict.fromkeys([*spec.trusted_types, *TYPES]))
