"""trackfit as a package: a wheel built from the repository, installed into a fresh
environment, works in an empty folder with no checkout in sight."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import pytest

from .conftest import EXPERIMENT, checkout_files, uv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The bin folder of a fresh environment with nothing but trackfit's wheel installed."""
    root = tmp_path_factory.mktemp("package")
    source = checkout_files(root / "source")
    uv("build", "--wheel", "--out-dir", str(root / "dist"), str(source))
    (wheel,) = (root / "dist").glob("trackfit-*.whl")
    venv = root / "venv"
    uv("venv", "--seed", "--python", sys.executable, str(venv))
    uv("pip", "install", "--python", str(venv / "bin" / "python"), str(wheel))
    return venv / "bin"


def in_empty_folder(installed, tmp_path, *args):
    folder = tmp_path / "empty"
    folder.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLFLOW_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{installed}{os.pathsep}{env['PATH']}",
               MLFLOW_EXPERIMENT_NAME=EXPERIMENT)
    return subprocess.run([str(installed / "trackfit"), *args], capture_output=True, text=True,
                          cwd=folder, env=env, timeout=900)


def test_the_wheel_lists_every_built_in_outside_the_checkout(installed, tmp_path):
    done = in_empty_folder(installed, tmp_path, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    (plugin,) = json.loads(done.stdout)  # no drop-in folder here: the built-ins alone
    assert (plugin["name"], plugin["source"], plugin["error"]) == (
        "scikit_learn", "package: trackfit 0.1.0", "")
    assert plugin["estimators"] == ["linear", "tree", "ridge", "lasso", "elasticnet", "knn",
                                    "svr", "forest", "extra-trees", "gbr", "hist-gb", "dummy"]


def test_trackfit_main_runs_the_lab_in_an_empty_folder(installed, tmp_path):
    done = in_empty_folder(installed, tmp_path, "main")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "registered new version 1 of model-diabetes" in done.stdout
    store = f"sqlite:///{tmp_path / 'empty' / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    trained = client.search_runs([experiment.experiment_id], "tags.`trackfit.step` = 'train'")
    metrics = {run.data.params["estimator"]: run.data.metrics for run in trained}
    assert round(metrics["linear"]["test_r2_score"], 4) == 0.3929
    assert round(metrics["tree"]["training_r2_score"], 4) == 0.7321
    for run in trained:  # installed, not a checkout: no commit to record
        assert "trackfit.git_commit" not in run.data.tags
        assert run.data.tags["trackfit.plugin_distribution"] == "trackfit"
    champion = client.get_model_version_by_alias("model-diabetes", "champion")
    model_id = champion.source.removeprefix("models:/")
    folder = client.get_logged_model(model_id).artifact_location
    requirements = Path(urlsplit(folder).path) / "requirements.txt"
    names = [line.split("==")[0] for line in requirements.read_text().split()]
    assert names == ["mlflow", "scikit-learn", "numpy", "scipy", "pandas", "skops"]
