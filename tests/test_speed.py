"""What the speed changes must keep: same rankings, same predictions, same frames."""

import math

import mlflow
import numpy as np
import pytest

from trackfit import TrackfitError
from trackfit.engines import pandas as datamod
from trackfit.engines.source import parse
from trackfit.entrypoints.main import main
from trackfit.entrypoints.predict import predict
from trackfit.entrypoints.train import train
from trackfit.tracking.runs import training_runs


def test_ranking_skips_runs_without_the_metric_and_names_the_known_ones(store):
    linear = train("linear", cv=0)
    tree = train("tree", cv=0)
    with mlflow.start_run():  # a finished training run whose metric is NaN
        mlflow.set_tag("trackfit.step", "train")
        mlflow.log_metric("test_r2_score", math.nan)
    with mlflow.start_run():
        ranked = training_runs("test_r2_score")
        by_error = training_runs("test_mean_absolute_error")
        with pytest.raises(TrackfitError, match=r"no training run has metric 'nope'; "
                                                r"choose one of: .*test_r2_score"):
            training_runs("nope")
    assert list(ranked.run_id) == [linear["run_id"], tree["run_id"]]  # NaN never ranked
    assert list(by_error.run_id) == [linear["run_id"], tree["run_id"]]  # lower is better


def test_no_training_runs_is_its_own_error(store):
    with mlflow.start_run(), pytest.raises(TrackfitError, match="no finished training runs"):
        training_runs("test_r2_score")


def test_train_links_each_metric_once_to_the_logged_model(store):
    result = train("linear", cv=0)
    run = mlflow.MlflowClient().get_run(result["run_id"])
    model = mlflow.MlflowClient().get_logged_model(run.outputs.model_outputs[0].model_id)
    assert {m.key: m.value for m in model.metrics} == pytest.approx(result["metrics"])
    history = mlflow.MlflowClient().get_metric_history(result["run_id"], "test_r2_score")
    assert len(history) == 1


def test_predict_gives_what_the_pyfunc_model_gives(store, tmp_path):
    main(cv=0)
    rows = datamod.load(parse("diabetes"), require_target=False)
    rows.drop(columns="Y").sample(2000, replace=True, random_state=1).to_parquet("rows.parquet")
    result = predict("rows.parquet", output=str(tmp_path / "out.csv"))["predictions"]
    uri = "models:/model-diabetes@champion"
    expected = mlflow.pyfunc.load_model(uri).predict(result[datamod.FEATURES])
    assert np.allclose(result["prediction"], expected)


def test_parquet_reads_to_the_same_frame_as_the_embedded_copy(tmp_path):
    raw = datamod.read(parse("diabetes"))
    raw.columns = [c.lower() for c in raw.columns]
    raw["age"] = raw["age"].astype("int64")
    raw.to_parquet(tmp_path / "lab.parquet")
    frame = datamod.load(parse(str(tmp_path / "lab.parquet")))
    assert frame.equals(datamod.load(parse("diabetes")))
    assert list(frame.dtypes.unique()) == [np.dtype("float64")]


def test_cv_scores_are_sklearns_cross_validate_to_the_bit():
    """The lean CV gives the floats sklearn's cross_validate and metric functions give."""
    from sklearn import metrics
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_validate, train_test_split
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.tree import DecisionTreeRegressor

    from trackfit.fitting.metrics import SCORERS, cv_scores, fold_scores

    rng = np.random.default_rng(0)
    for i in range(300):
        n = int(rng.integers(2, 2000))
        y_true = rng.normal(size=n) * rng.uniform(0.1, 1e4)
        y_true = np.round(y_true).astype(np.int64) if i % 3 == 0 else y_true
        y_pred = y_true.astype(float) if i % 50 == 0 else rng.normal(size=n) * 100
        assert fold_scores(y_true, y_pred) == {
            "r2_score": metrics.r2_score(y_true, y_pred),
            "mean_absolute_error": metrics.mean_absolute_error(y_true, y_pred),
            "mean_squared_error": metrics.mean_squared_error(y_true, y_pred),
            "root_mean_squared_error": metrics.root_mean_squared_error(y_true, y_pred)}
    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    X_train, _, y_train, _ = train_test_split(X, y.to_numpy(), test_size=0.3, random_state=0)
    for model in (LinearRegression(), KNeighborsRegressor(),
                  DecisionTreeRegressor(max_depth=3, max_features=0.8, random_state=0)):
        ours, folds = cv_scores(model, X_train, y_train, 5)
        theirs = cross_validate(model, X_train.to_numpy(), y_train, cv=KFold(5),
                                scoring=SCORERS)
        for name, scorer in SCORERS.items():
            values = theirs[f"test_{name}"] * (-1 if scorer.startswith("neg_") else 1)
            assert list(folds[name]) == list(values)
            assert ours[f"cv_{name}"] == float(values.mean())
            assert ours[f"cv_{name}_std"] == float(values.std())
