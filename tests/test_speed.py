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
