"""Scoring through the model's own flavor: the same predictions as pyfunc, rows laid out once."""

import mlflow
import numpy as np
import pandas as pd

from trackfit import trust
from trackfit.engines import pandas as datamod, scoring
from trackfit.engines.source import parse
from trackfit.entrypoints.main import main
from trackfit.entrypoints.predict import predict
from trackfit.entrypoints.train import train

from .conftest import PROJECT, runs

NEW_PATIENTS = PROJECT / "examples" / "new_patients.csv"


def test_the_scoring_block_holds_the_features_as_one_block_read_in_place(store):
    frame = datamod.load(parse("diabetes"))
    blocked = scoring.block(frame, datamod.FEATURES)
    assert list(blocked.columns) == datamod.FEATURES
    assert blocked.equals(frame[datamod.FEATURES])  # the same checked rows and dtypes
    features = np.asarray(blocked)
    assert not features.flags.writeable  # a view of the block, not a gathered copy


def test_the_models_own_predict_gives_pyfunc_predictions_in_any_column_order(store):
    uri = train("linear", cv=0)["model_uri"]
    rows = datamod.load(parse("diabetes"), require_target=False)
    shuffled = rows[list(reversed(rows.columns))]
    expected = mlflow.pyfunc.load_model(uri).predict(rows[datamod.FEATURES])
    predict = scoring.predictor(uri)
    assert predict.__qualname__.endswith("predictor.<locals>.predict")  # not pyfunc's
    np.testing.assert_array_equal(predict(scoring.block(rows, datamod.FEATURES)), expected)
    np.testing.assert_array_equal(predict(shuffled), expected)


def test_plain_mlflow_scores_the_example_file_with_the_labs_models(store, monkeypatch):
    """A colleague's process: MLflow's own loader and guard default, the file as pandas reads
    it (AGE, SEX, S1, S6 are int64 there), integer or float columns alike."""
    main()  # the lab, as `make lab` runs it
    monkeypatch.delenv(trust.GUARD_ENV, raising=False)
    monkeypatch.delenv(trust.TRUST_ENV, raising=False)
    rows = pd.read_csv(NEW_PATIENTS)
    assert rows["AGE"].dtype == "int64" and rows["BMI"].dtype == "float64"
    ours = predict(data=str(NEW_PATIENTS))["predictions"]["prediction"].to_numpy()
    champion = mlflow.pyfunc.load_model("models:/model-diabetes@champion")
    assert champion.metadata.flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    np.testing.assert_array_equal(champion.predict(rows), ours)
    np.testing.assert_array_equal(champion.predict(rows.astype("float64")), ours)
    for run in runs(store, "train", "FINISHED"):  # the tree too
        model = mlflow.pyfunc.load_model(run.data.tags["trackfit.model_uri"])
        np.testing.assert_array_equal(model.predict(rows), model.predict(rows.astype(float)))
