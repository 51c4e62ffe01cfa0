"""Pipelines: a model that is trackfit's preprocessing then an estimator loads through the
trust check and predicts raw rows; a tampered one is refused in one line, never run.

A genuine pipeline (numbers with gaps, text, dates) of every built-in estimator loads with
its spec's trusted types plus the preprocessing's and predicts unseen text and missing values.
The tampered ones are real pipelines fitted on the lab, changed as someone with write access
to the store would, registered as the champion and scored by `predict`: a OneHotEncoder whose
infrequent-category mapping points past its output crashed predict (exit 139) inside a
forest pipeline before the walk.
"""

import mlflow
import numpy as np
import pandas as pd
import pytest
import skops.io
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler

from trackfit import trust
from trackfit.estimators import builtin, checks, plugins, preprocessing
from trackfit.estimators.preprocessing import DateParts

from .conftest import PROJECT, free_port, logged_skops, runs
from .test_trust import champion
from .test_trust_loading import assert_refused, lab, run_cli

NEW = str(PROJECT / "examples" / "new_patients.csv")
SCALED = ("linear", "ridge", "lasso", "elasticnet", "knn", "svr", "dummy")


def table(rows=120, seed=0):
    """Raw rows as a user's file has them: numbers with gaps, text with gaps, dates in
    several formats (some not dates at all), an id; and a target."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "id": [f"row-{at}" for at in range(rows)],
        "weight": rng.normal(70, 10, rows),
        "height": rng.normal(170, 8, rows),
        "island": rng.choice(["Biscoe", "Dream", "Torgersen", "Tiny", None], rows,
                             p=[.4, .3, .2, .05, .05]),
        "sex": rng.choice(["female", "male", None], rows, p=[.48, .48, .04]),
        "when": rng.choice(["2020-01-05", "2021-03-04 10:00", "05/06/2019", "not a date",
                            None], rows),
    })
    frame.loc[::9, "weight"] = np.nan
    target = 3 * frame["height"].to_numpy() + np.where(frame["island"] == "Dream", 40, 0)
    return frame, pd.Series(target + rng.normal(0, 5, rows), name="target")


def pipeline(estimator, scale=False, encoder=None):
    """The shape every logged model has: Pipeline(prepare -> model). ``encoder``: text
    imputed then one-hot encoded by default; an OrdinalEncoder reads the raw text itself,
    coding missing and unseen values apart (for estimators taking categories natively)."""
    numbers = [("impute", SimpleImputer(strategy="median", keep_empty_features=True))]
    if scale:
        numbers.append(("scale", StandardScaler()))
    encoder = encoder or OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10,
                                       sparse_output=False)
    categories = encoder if isinstance(encoder, OrdinalEncoder) else Pipeline([
        ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
        ("encode", encoder)])
    prepare = ColumnTransformer([
        ("categories", categories, ["island", "sex"]),
        ("numbers", Pipeline(numbers), ["weight", "height"]),
        ("dates", Pipeline([("parts", DateParts()),
                            ("impute", SimpleImputer(strategy="median"))]), ["when"]),
    ], remainder="drop", sparse_threshold=0)
    return Pipeline([("prepare", prepare), ("model", estimator)])


def new_rows():
    """Rows predict has never seen: an unseen island, missing text, numbers and dates."""
    rows, _ = table(4, seed=1)
    rows["island"] = ["Atlantis", None, "Dream", "Biscoe"]
    rows["sex"] = [None, "female", "unknown", "male"]
    rows["when"] = ["2031-12-31", "garbage", None, "2020-01-05"]
    rows.loc[0, "height"] = np.nan
    return rows


def spec(name):
    return plugins.catalogue().get(name)


def plan(name):
    return {"flavor": "sklearn", "format": "skops",
            "trusted_types": preprocessing.trusted_types(spec(name))}


@pytest.mark.parametrize("name", [
    "linear", "tree", "ridge", "lasso", "elasticnet", "knn", "svr", "forest", "extra-trees",
    "gbr", "hist-gb", "dummy"])
def test_a_pipeline_of_each_built_in_loads_and_predicts_raw_rows(name):
    """Loaded from its skops bytes the way every step loads a model (the spec's types and
    the preprocessing's, the walk, the plugin's checks): the same predictions, finite on
    unseen text and missing values."""
    X, y = table()
    encoder = None if name != "hist-gb" else OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan,
        max_categories=3)
    model = pipeline(spec(name).load_factory()(), scale=name in SCALED,
                     encoder=encoder).fit(X, y)
    data = skops.io.dumps(model)
    held = set(skops.io.get_untrusted_types(data=data))
    assert held <= set(plan(name)["trusted_types"])
    loaded = trust.load_bytes(data, plan(name))
    assert type(loaded) is Pipeline
    np.testing.assert_allclose(loaded.predict(X), model.predict(X))
    assert np.isfinite(loaded.predict(new_rows())).all()


def test_the_preprocessing_types_are_exactly_what_its_pipelines_hold():
    """Each name in PREPROCESSING is the class the preprocessing uses, and the types skops
    asks to trust for pipelines of every kind are those names (and the estimators' own)."""
    from sklearn.compose import ColumnTransformer as CT  # noqa: N817

    classes = [Pipeline, CT, SimpleImputer, OneHotEncoder, OrdinalEncoder, StandardScaler,
               DateParts]
    names = {f"{kind.__module__}.{kind.__qualname__}" for kind in classes}
    assert names | {"numpy.dtype"} == set(builtin.PREPROCESSING) == set(preprocessing.TYPES)
    X, y = table()
    held = set()
    for encoder in (OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                   encoded_missing_value=-1)):
        model = pipeline(LinearRegression(), scale=True, encoder=encoder).fit(X, y)
        held |= set(skops.io.get_untrusted_types(data=skops.io.dumps(model)))
    assert held == {"numpy.dtype", "trackfit.estimators.preprocessing.DateParts"}


def test_date_parts_reads_any_date_format_and_leaves_the_rest_missing():
    dates = pd.DataFrame({"when": ["2020-01-05", "1999-12-31 23:59", "05/06/2019",
                                   "2021-03-04T10:00:00+02:00", "soon", None]})
    parts = DateParts().fit(dates)
    out = parts.transform(dates)
    assert out.shape == (6, 4)
    assert out[0].tolist() == [2020, 1, 5, 6]  # a Sunday
    assert out[1].tolist() == [1999, 12, 31, 4]
    assert out[2].tolist() == [2019, 5, 6, 0]
    assert out[3].tolist() == [2021, 3, 4, 3]
    assert np.isnan(out[4:]).all()
    assert parts.get_feature_names_out().tolist() == [
        "when_year", "when_month", "when_day", "when_dayofweek"]


def test_a_logged_pipeline_is_served_raw_rows_through_pyfunc(store):
    """Logged by MLflow in skops with its types, registered as the champion: the checked
    folder loads in plain pyfunc and predicts text, dates and gaps."""
    X, y = table()
    model = pipeline(RandomForestRegressor(20, random_state=0)).fit(X, y)
    champion(lambda name: mlflow.sklearn.log_model(
        model, name=name, serialization_format="skops", pip_requirements=[],
        skops_trusted_types=plan("forest")["trusted_types"],
        signature=infer_signature(X, model.predict(X)), input_example=X.head(5)))
    with trust.checked("models:/model-diabetes@champion") as source:
        predicted = mlflow.pyfunc.load_model(source).predict(new_rows())
    assert np.isfinite(predicted).all()
    np.testing.assert_allclose(predicted, model.predict(new_rows()))


# Pipelines over the lab's ten columns (so `predict --data new_patients.csv` scores them),
# AGE and SEX encoded as categories, then changed by an attacker.
CATEGORIES = ["AGE", "SEX"]
NUMBERS = ["BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]


def lab_pipeline(estimator, scale=False):
    numbers = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numbers.append(("scale", StandardScaler()))
    prepare = ColumnTransformer([
        ("numbers", Pipeline(numbers), NUMBERS),
        ("categories", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10,
                                     sparse_output=False))]), CATEGORIES),
    ], remainder="drop")
    return Pipeline([("prepare", prepare), ("model", estimator)]).fit(*lab())


def forest():
    return lab_pipeline(RandomForestRegressor(10, max_depth=4, random_state=0))


def linear():
    return lab_pipeline(LinearRegression(), scale=True)


def encoder_of(model):
    return model.named_steps["prepare"].named_transformers_["categories"].named_steps["encode"]


def past_the_output():
    """The forest's encoder maps AGE's categories to codes millions past its output columns:
    the codes index the sparse matrix its dense output is copied from (exit 139)."""
    model = forest()
    mappings = encoder_of(model)._default_to_infrequent_mappings
    mappings[0] = mappings[0] + 10**7
    return model


def past_the_input():
    """The ColumnTransformer's numbers read column 1,000,000 of the lab's ten."""
    model = linear()
    prepare = model.named_steps["prepare"]
    name, numbers, columns = prepare.transformers_[0]
    prepare.transformers_[0] = (name, numbers, [0, 10**6])
    prepare._transformer_to_input_indices[name] = [0, 10**6]
    return model


def short_statistics():
    """The numbers' imputer holds five fill values for the eight columns it reads."""
    model = linear()
    imputer = model.named_steps["prepare"].named_transformers_["numbers"].named_steps["impute"]
    imputer.statistics_ = imputer.statistics_[:5]
    return model


def foreign_step():
    """A MinMaxScaler (a type skops trusts) where the StandardScaler was."""
    model = linear()
    numbers = model.named_steps["prepare"].named_transformers_["numbers"]
    X = lab()[0][NUMBERS]
    numbers.steps[1] = ("scale", MinMaxScaler().fit(X))
    return model


# name: (the tampered model, what the refusal says)
TAMPERED = {
    "one-hot-past-its-output": (past_the_output, "_default_to_infrequent_mappings for column "
                                "0 is int64"),
    "columns-past-the-input": (past_the_input, "selects column 1000000; its input columns "
                               "are 0 to 9"),
    "imputer-statistics": (short_statistics, "its step prepare.numbers.impute's statistics_ "
                           "is float64 (5,), not 8 fill values"),
    "foreign-step": (foreign_step, "is a sklearn.preprocessing._data.MinMaxScaler, which "
                     "trackfit's preprocessing never holds"),
}


def log_tampered(kind):
    types = plan("forest" if kind == "one-hot-past-its-output" else "linear")["trusted_types"]
    return logged_skops(TAMPERED[kind][0](), types, *lab())


@pytest.mark.parametrize("kind", sorted(TAMPERED))
def test_a_tampered_pipeline_is_refused_by_predict(store, tmp_path, capsys, kind):
    champion(log_tampered(kind))
    output = tmp_path / "predictions.csv"
    assert_refused(capsys, "predict", "--data", NEW, "--output", str(output),
                   phrases=["fails the check of estimator", TAMPERED[kind][1]])
    assert not output.exists()
    assert len(runs(store, "predict", "FAILED")) == 1


def test_the_encoder_past_its_output_is_refused_by_serve(store, capsys):
    champion(log_tampered("one-hot-past-its-output"))
    assert_refused(capsys, "serve", "--port", str(free_port()),
                   phrases=[TAMPERED["one-hot-past-its-output"][1]])


def test_the_encoder_past_its_output_exits_3_and_fails_the_run(store, run_cli):
    """In this process, as the other refusals here: the check refuses it before anything runs
    it (a crafted tree's refusal in a new interpreter: tests/test_trust_loading.py)."""
    from .test_errors import assert_failed_run, assert_one_line_error

    champion(log_tampered("one-hot-past-its-output"))
    done = run_cli("predict", "--data", NEW)
    assert_one_line_error(done, TAMPERED["one-hot-past-its-output"][1], code=3)
    assert_failed_run(store, "predict")


def test_a_genuine_lab_pipeline_predicts_through_the_cli(store, tmp_path, capsys):
    """The same pipelines untampered: `predict` scores the new patients with them."""
    model = forest()
    X, y = lab()
    champion(logged_skops(model, plan("forest")["trusted_types"], X, y))
    code, errors = run_cli(capsys, "predict", "--data", NEW, "--output",
                           str(tmp_path / "p.csv"))
    assert code == 0, errors
    written = pd.read_csv(tmp_path / "p.csv")
    expected = model.predict(pd.read_csv(NEW)[X.columns].astype("float64"))
    np.testing.assert_allclose(written.iloc[:, -1], expected)


def _change(build, change):
    def craft():
        model = build()
        change(model)
        return model
    return craft


def _prepare(model):
    return model.named_steps["prepare"]


def _numbers(model):
    return _prepare(model).named_transformers_["numbers"]


@pytest.mark.parametrize("craft, phrase", [
    (_change(forest, lambda m: setattr(encoder_of(m), "_n_features_outs", [40, 2])),
     "column 0 encodes to"),
    (_change(forest, lambda m: setattr(encoder_of(m), "_infrequent_indices",
                                       [np.array([10**6]), None])),
     "infrequent categories of column 0 are not distinct indices below"),
    (_change(forest, lambda m: encoder_of(m).categories_.__setitem__(
        1, encoder_of(m).categories_[1][::-1].copy())),
     "categories of column 1 are not unique and sorted"),
    (_change(forest, lambda m: setattr(encoder_of(m), "handle_unknown", "crash")),
     "handle_unknown is 'crash'"),
    (_change(forest, lambda m: setattr(encoder_of(m), "dtype", object)),
     "dtype is <class 'object'>, not a number type"),
    (_change(forest, lambda m: _prepare(m).output_indices_.__setitem__(
        "numbers", slice(0, 80))), "output_indices_ are slice(0, 80, None)"),
    (_change(forest, lambda m: setattr(_prepare(m), "remainder", "passthrough")),
     "passes columns it does not transform through"),
    (_change(linear, lambda m: setattr(_numbers(m).steps[0][1], "add_indicator", True)),
     "adds missing-value indicators"),
    (_change(linear, lambda m: setattr(_numbers(m).steps[1][1], "mean_",
                                       np.full(8, np.nan))), "mean_ holds a value that is not"),
    (_change(linear, lambda m: setattr(_numbers(m).steps[1][1], "n_features_in_", 9)),
     "reads 9 features; it is given 8"),
    (_change(linear, lambda m: setattr(m, "memory", "/tmp/cache")), "caches or routes"),
    (_change(linear, lambda m: setattr(m.steps[1][1], "coef_", np.zeros(30))),
     "its LinearRegression's coef_ is float64 (30,)"),
    (_change(linear, lambda m: setattr(m.steps[1][1], "n_features_in_", 3)),
     "its LinearRegression reads 3 features, its preprocessing passes on"),
    (_change(linear, lambda m: setattr(m, "steps", m.steps[1:])),
     "holds no preprocessing before its estimator"),
    (_change(linear, lambda m: m.steps.insert(0, ("dates", DateParts().fit(lab()[0])))),
     "a ColumnTransformer, reads 10 features; it is given 40"),
], ids=["one-hot-outs", "one-hot-rare", "one-hot-unsorted", "one-hot-unknown",
        "one-hot-dtype", "offsets", "remainder", "indicator", "scaler-nan", "scaler-width",
        "memory", "estimator-width", "estimator-reads", "no-preprocessing",
        "date-parts-widen"])
def test_the_walk_checks_each_step_against_the_next(craft, phrase):
    with pytest.raises(ValueError) as refused:
        checks.walk(craft())
    assert phrase in str(refused.value)


def test_a_bare_estimator_still_loads_as_before():
    """Models logged before the preprocessing: an estimator alone, walked as it was."""
    model = RandomForestRegressor(5, random_state=0).fit(*lab())
    data = skops.io.dumps(model)
    loaded = trust.load_bytes(data, plan("forest"))
    np.testing.assert_allclose(loaded.predict(lab()[0]), model.predict(lab()[0]))


def test_a_pipeline_around_an_estimator_no_plugin_registers_is_refused():
    """The last step decides whose checks run: a class no installed plugin registers is
    refused by name, whatever preprocessing comes before it."""
    from sklearn.linear_model import HuberRegressor

    X, y = table()
    data = skops.io.dumps(pipeline(HuberRegressor(), scale=True).fit(X, y))
    with pytest.raises(trust.Refused, match="it is a Pipeline whose estimator is a "
                       "sklearn.linear_model._huber.HuberRegressor, and no installed plugin "
                       "registers that estimator"):
        trust.load_bytes(data, plan("linear"))
