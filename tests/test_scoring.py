"""Scoring through the model's own flavor: the same predictions as pyfunc, rows laid out once."""

import mlflow
import numpy as np

from trackfit.engines import pandas as datamod, scoring
from trackfit.engines.source import parse
from trackfit.entrypoints.train import train


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
