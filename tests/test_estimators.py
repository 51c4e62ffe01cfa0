"""Every built-in estimator trains, saves with skops, loads back and predicts the same."""

import mlflow
import numpy as np
import pytest

import trackfit
from trackfit import data, plugins
from trackfit.entrypoints.train import train

BUILT_IN = ["linear", "tree", "ridge", "lasso", "elasticnet", "knn", "svr", "forest",
            "extra-trees", "gbr", "hist-gb", "dummy"]


def test_the_built_ins_are_ordinary_plugins(store):
    registry = plugins.registry()
    assert sorted(registry.names()) == sorted(BUILT_IN)
    assert {spec.plugin for spec in registry.specs} == {"scikit_learn"}
    assert registry.get("tree").defaults == {"max_depth": 5}
    assert registry.get("tree").plugin_version == trackfit.__version__


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_built_in_round_trips_through_the_registry_format(store, name):
    result = train(name, cv=0)
    frame = data.load("diabetes")
    features = frame[data.FEATURES].head(50)
    loaded = mlflow.pyfunc.load_model(result["model_uri"])
    native = mlflow.sklearn.load_model(result["model_uri"])
    assert np.allclose(loaded.predict(features), native.predict(features))
    run = mlflow.MlflowClient().get_run(result["run_id"])
    if "random_state" in native.get_params():
        assert native.get_params()["random_state"] == 0
        assert run.data.params["random_state"] == "0"
