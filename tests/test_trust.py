"""Models are data: trackfit loads only what the installed plugins vouch for.

Each crafted model is logged to the test store and registered as the champion, as someone
with write access to a shared store could; `python -m trackfit predict` must refuse it with
one line, mark its run FAILED, write nothing and run none of the model's code.
"""

import contextlib
import io
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LinearRegression

from trackfit import TrackfitError, trust
from trackfit.engines import pandas as data, scoring
from trackfit.engines.source import parse
from trackfit.entrypoints.train import train
from trackfit.estimators import plugins

from .conftest import runs
from .test_errors import assert_failed_run, assert_one_line_error
from .test_estimators import BUILT_IN


class WritesAFile:
    """Unpickling this object opens ``path`` for writing: it creates the file."""

    def __init__(self, path):
        self.path = path

    def predict(self, X):  # so MLflow logs it with a python_function flavor, like a model
        return X

    def __reduce__(self):
        return open, (self.path, "w")


def fitted():
    frame = data.load(parse("diabetes"))
    return LinearRegression().fit(frame[data.FEATURES], frame[data.TARGET])


def champion(log):
    """Log a model with ``log(name)`` in a run of its own and make it model-diabetes@champion."""
    with mlflow.start_run(run_name="crafted"):
        info = log("model")
    version = mlflow.register_model(info.model_uri, "model-diabetes")
    mlflow.MlflowClient().set_registered_model_alias("model-diabetes", "champion",
                                                     version.version)
    return info.model_uri


def crafted(folder_edit):
    """A real skops model whose saved folder ``folder_edit(path)`` rewrites, logged as is."""
    def log(name):
        folder = Path(tempfile.mkdtemp()) / "model"
        mlflow.sklearn.save_model(fitted(), folder, pip_requirements=[])
        folder_edit(folder)
        mlflow.log_artifacts(str(folder), name)
        return SimpleNamespace(model_uri=f"runs:/{mlflow.active_run().info.run_id}/{name}")
    return log


def edit_mlmodel(change):
    def edit(folder):
        path = folder / "MLmodel"
        mlmodel = yaml.safe_load(path.read_text())
        change(mlmodel)
        path.write_text(yaml.safe_dump(mlmodel))
    return edit


def refused(run_cli, store, tmp_path, *phrases, args=(), **env):
    output = tmp_path / "predictions.csv"
    result = run_cli(*args, "predict", "--output", str(output), **env)
    line = assert_one_line_error(result, "will not load model", *phrases, code=3)
    assert_failed_run(store, "predict")
    assert not output.exists()
    return line


def test_a_pickle_with_a_side_effect_is_refused_and_never_runs(run_cli, store, tmp_path):
    marker = tmp_path / "pwned"
    champion(lambda name: mlflow.sklearn.log_model(
        WritesAFile(str(marker)), name=name, serialization_format="cloudpickle",
        pip_requirements=[]))
    assert not marker.exists()  # logging it ran nothing either

    line = refused(run_cli, store, tmp_path, "saved as cloudpickle", "--trust-model")
    assert line.startswith("trackfit: error: will not load model 'models:/model-diabetes@champion'")
    assert not marker.exists()


def test_mlflows_own_guard_is_on_in_trackfits_process(store, tmp_path):
    """Even a load that skipped trust.check would be refused by MLflow in a trackfit process."""
    marker = tmp_path / "pwned"
    uri = champion(lambda name: mlflow.sklearn.log_model(
        WritesAFile(str(marker)), name=name, serialization_format="cloudpickle",
        pip_requirements=[]))
    with trust.guarded():
        with pytest.raises(Exception, match="Deserializing this model is disallowed"):
            mlflow.pyfunc.load_model(uri)
    assert trust.GUARD_ENV not in os.environ  # restored after the block
    assert not marker.exists()


def test_a_skops_model_that_trusts_a_dangerous_type_is_refused(run_cli, store, tmp_path):
    champion(lambda name: mlflow.sklearn.log_model(
        fitted(), name=name, serialization_format="skops",
        skops_trusted_types=["builtins.eval", "posix.system"], pip_requirements=[]))
    refused(run_cli, store, tmp_path, "tells skops to trust builtins.eval, posix.system",
            "which no installed plugin declares")


def test_an_unknown_flavor_is_refused(run_cli, store, tmp_path):
    def rename(mlmodel):
        flavors = mlmodel["flavors"]
        flavors["xgboost"] = flavors.pop("sklearn")
        flavors["python_function"]["loader_module"] = "mlflow.xgboost"

    champion(crafted(edit_mlmodel(rename)))
    registered = sorted({spec.flavor for spec in plugins.catalogue().specs})  # sklearn, and
    assert "sklearn" in registered  # what other installed plugins bring
    refused(run_cli, store, tmp_path,
            "its flavor 'xgboost' is not one an installed plugin registered",
            f"({', '.join(registered)})")


@pytest.mark.parametrize("change, phrase", [
    (lambda m: m["flavors"]["python_function"].update(loader_module="evil_loader"),
     "its python_function loader is 'evil_loader', not mlflow.sklearn"),
    (lambda m: m["flavors"]["python_function"].update(code="code"),
     "brings its own code or pickles (code)"),
    (lambda m: m["flavors"]["sklearn"].update(pickled_model="../../../etc/passwd"),
     "pickled_model '../../../etc/passwd' leads out of the model's folder"),
    (lambda m: m["flavors"]["python_function"].update(model_path="/etc/passwd"),
     "model_path '/etc/passwd' leads out of the model's folder"),
])
def test_custom_loaders_and_paths_out_of_the_folder_are_refused(run_cli, store, tmp_path, change,
                                                                phrase):
    champion(crafted(edit_mlmodel(change)))
    refused(run_cli, store, tmp_path, phrase)


def test_a_link_out_of_the_model_folder_is_refused(tmp_path, store):
    copy = tmp_path / "copy"
    mlflow.sklearn.save_model(fitted(), copy, pip_requirements=[])
    (copy / "model.skops").unlink()
    (copy / "model.skops").symlink_to("/etc/passwd")
    with pytest.raises(TrackfitError, match="cannot fetch model"):  # MLflow refuses the link
        with trust.checked(str(copy)):
            pass


def test_trust_model_loads_a_pickle_from_a_store_you_control(run_cli, store, tmp_path):
    champion(lambda name: mlflow.sklearn.log_model(
        fitted(), name=name, serialization_format="cloudpickle", pip_requirements=[]))
    refused(run_cli, store, tmp_path, "saved as cloudpickle")

    for args, env in (((("--trust-model",)), {}), ((), {"TRACKFIT_TRUST_MODELS": "1"})):
        output = tmp_path / "trusted.csv"
        result = run_cli(*args, "predict", "--output", str(output), **env)
        assert result.returncode == 0, result.stderr
        predicted = pd.read_csv(output)
        assert len(predicted) == 442
        frame = data.load(parse("diabetes"))
        assert np.allclose(predicted["prediction"], fitted().predict(frame[data.FEATURES]))
        output.unlink()
    assert len(runs(store, "predict", "FINISHED")) == 2


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_model_passes_the_check(store, name):
    result = train(name, cv=0)
    with trust.checked(result["model_uri"]) as folder:
        mlmodel = yaml.safe_load((Path(folder) / "MLmodel").read_text())
        assert sorted(os.listdir(folder)) == ["MLmodel", "model.skops",
                                              "serving_input_example.json"]
    assert not Path(folder).exists()  # the checked copy is removed with the block
    assert mlmodel["flavors"]["python_function"]["trackfit"]["format"] == "skops"
    frame = data.load(parse("diabetes"))
    with trust.guarded(), trust.checked(result["model_uri"]) as folder:
        # loaded with MLflow's guard on: trackfit reads the checked file itself
        predict = scoring.predictor(folder)
        assert len(predict(frame[data.FEATURES].head(5))) == 5


def test_the_champion_predicts_through_the_check(run_cli, store, tmp_path):
    for name in ("linear", "tree"):
        train(name, cv=0)
    assert run_cli("register").returncode == 0
    output = tmp_path / "predictions.parquet"
    result = run_cli("predict", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert len(pd.read_parquet(output)) == 442


# What skops trusts, by name, as skops.io._trusted_types computed it at its import.
TRUSTED_NAMES = """
import json
import skops.io._trusted_types as t
print(json.dumps({k: sorted(map(str, v)) for k, v in vars(t).items()
                  if k.isupper() and isinstance(v, (list, set, tuple))}))
"""


@pytest.mark.slow  # a new interpreter
def test_skops_trusts_the_same_names_imported_before_or_after_mlflow():
    """The commands import skops before MLflow (cli.skops_first, 0.6 s less each). skops names
    the scipy and numpy ufuncs it trusts by searching the modules imported before it, so the
    order must not change what a model may hold: here skops came after MLflow (conftest)."""
    import json
    import subprocess
    import sys

    assert "mlflow" in sys.modules
    first = subprocess.run([sys.executable, "-c", TRUSTED_NAMES], capture_output=True,
                           text=True, check=True)
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as here:
        exec(TRUSTED_NAMES, namespace)
    assert json.loads(first.stdout) == json.loads(here.getvalue())
    assert len(json.loads(here.getvalue())["SCIPY_UFUNC_TYPE_NAMES"]) > 100


# A folder that ``trust.checked`` rebuilt while trust was one module (trust.py), as that code
# wrote its MLmodel: ``serve`` hands such folders to `mlflow models serve`, and users keep
# them. Only the SHA-256 and the signature are filled in.
REBUILT_BEFORE_THE_PACKAGE = """\
flavors:
  python_function:
    data: model.skops
    loader_module: trackfit.trust
    python_version: 3.11.7
    trackfit:
      file: model.skops
      flavor: sklearn
      format: skops
      sha256: {sha256}
      trusted_types: []
mlflow_version: 3.17.2
signature:
  inputs: '{inputs}'
  outputs: '[{{"type": "tensor", "tensor-spec": {{"dtype": "float64", "shape": [-1]}}}}]'
  params: null
"""


def test_a_folder_rebuilt_before_trust_was_a_package_loads_with_plain_pyfunc(tmp_path):
    """Its ``loader_module: trackfit.trust`` still names the loader: plain pyfunc, with
    MLflow's guard on, loads the checked bytes through trackfit and predicts as the model."""
    import hashlib
    import json

    model = fitted()
    saved = tmp_path / "saved"
    mlflow.sklearn.save_model(model, saved, serialization_format="skops", pip_requirements=[])
    folder = tmp_path / "rebuilt"
    folder.mkdir()
    data_bytes = (saved / "model.skops").read_bytes()
    (folder / "model.skops").write_bytes(data_bytes)
    inputs = json.dumps([{"type": "any", "name": name, "required": True}
                         for name in data.FEATURES])
    (folder / "MLmodel").write_text(REBUILT_BEFORE_THE_PACKAGE.format(
        sha256=hashlib.sha256(data_bytes).hexdigest(), inputs=inputs))
    rows = data.load(parse("diabetes"))[data.FEATURES].head(5)
    with trust.guarded():
        loaded = mlflow.pyfunc.load_model(str(folder))
        np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    assert loaded.metadata.flavors["python_function"]["loader_module"] == trust.LOADER
