"""Every built-in estimator trains, saves with skops, loads back and predicts the same."""

import mlflow
import numpy as np
import pytest

import trackfit
from trackfit.engines import pandas as data
from trackfit.engines.source import parse
from trackfit.estimators import plugins
from trackfit.entrypoints.train import train

BUILT_IN = ["linear", "tree", "ridge", "lasso", "elasticnet", "knn", "svr", "forest",
            "extra-trees", "gbr", "hist-gb", "dummy"]


def test_the_built_ins_are_ordinary_plugins(store):
    found = plugins.catalogue()
    built_in = [spec for spec in found.specs if spec.distribution == "trackfit"]
    assert sorted(spec.name for spec in built_in) == sorted(BUILT_IN)
    assert {spec.plugin for spec in built_in} == {"scikit_learn"}
    assert found.get("tree").defaults == {"max_depth": 5}
    assert found.get("tree").plugin_version == trackfit.__version__
    # the checkout's drop-in example is its one other plugin; installed packages may add more
    from_checkout = [p for p in found.plugins if p.source.startswith("project:")]
    assert [(p.name, p.estimators) for p in from_checkout] == [("quantile", ["quantile"])]
    assert set(BUILT_IN + ["quantile"]) <= set(found.names())


def test_the_drop_in_example_trains_a_median_regression(store):
    result = train("quantile", cv=0)
    run = mlflow.MlflowClient().get_run(result["run_id"])
    assert run.data.tags["trackfit.plugin"] == "quantile"
    assert run.data.tags["estimator_class"] == "sklearn.linear_model._quantile.QuantileRegressor"
    assert run.data.params["quantile"] == "0.5"
    assert 0.3 < result["metrics"]["test_r2_score"] < 0.5


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_built_in_round_trips_through_the_registry_format(store, name):
    result = train(name, cv=0)
    frame = data.load(parse("diabetes"))
    features = frame[data.FEATURES].head(50)
    loaded = mlflow.pyfunc.load_model(result["model_uri"])
    native = mlflow.sklearn.load_model(result["model_uri"])
    assert np.allclose(loaded.predict(features), native.predict(features))
    run = mlflow.MlflowClient().get_run(result["run_id"])
    if "random_state" in native.get_params():
        assert native.get_params()["random_state"] == 0
        assert run.data.params["random_state"] == "0"
