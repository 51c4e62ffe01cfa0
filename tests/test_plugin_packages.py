"""The example plugin package as a user meets it: built, installed into a fresh environment
with trackfit's pins, listed, trained with ``mlflow run``, registered and predicted with."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from .conftest import EXPERIMENT, PROJECT, env_for, mlflow_cli, runs, uv
from .test_plugin_docs import tutorial_file

from trackfit.tracking import project
from trackfit.entrypoints.train import train

# Each test builds a virtual environment and installs wheels into it.
pytestmark = pytest.mark.slow

EXAMPLE = PROJECT / "examples" / "trackfit-lightgbm"

# The model a user would fit by hand: the lab's split, the plugin's defaults, the run's seed.
IN_MEMORY = textwrap.dedent("""
    import sys
    from lightgbm import LGBMRegressor
    from sklearn.model_selection import train_test_split
    from trackfit.engines import pandas as data, source
    from trackfit.engines.source import parse

    frame = data.load(parse("diabetes"))
    X, y = frame[data.FEATURES], frame[data.TARGET]
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    model = LGBMRegressor(verbose=-1, n_jobs=1, random_state=0).fit(X_train, y_train)
    frame.assign(prediction=model.predict(X)).to_csv(sys.argv[1], index=False)
""")

# Listing, then telling on stderr whether LightGBM was imported by it.
LISTING = textwrap.dedent("""
    import sys
    from trackfit.cli import main
    code = main(sys.argv[1:])
    print("lightgbm imported:", "lightgbm" in sys.modules, file=sys.stderr)
    sys.exit(code)
""")


@pytest.fixture(scope="module")
def venv_bin(tmp_path_factory):
    """The bin folder of a fresh virtual environment: trackfit's pins and the example's wheel.

    trackfit itself is not installed: `mlflow run` imports it from the project folder.
    """
    root = tmp_path_factory.mktemp("plugin-package")
    source = shutil.copytree(EXAMPLE, root / "source")  # a build writes next to its sources
    uv("build", "--wheel", "--out-dir", str(root / "dist"), str(source))
    (wheel,) = (root / "dist").glob("trackfit_lightgbm-*.whl")
    venv = root / "venv"
    uv("venv", "--seed", "--python", sys.executable, str(venv))
    uv("pip", "install", "--python", str(venv / "bin" / "python"),
       *project.pins(), str(wheel))
    return venv / "bin"


def in_venv(venv_bin, uri, *command):
    """``command`` with the environment's bin first on PATH, from the working directory."""
    env = env_for(uri, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([str(arg) for arg in command], capture_output=True, text=True,
                          env=env, cwd=Path.cwd(), timeout=900)


def mlflow_run(venv_bin, uri, *args):
    """``mlflow run`` from a shell with the environment's bin first on PATH: MLflow's command
    line in this process (the same MLflow as the environment's), the step a process of the
    environment's Python, where the package is installed."""
    env = env_for(uri, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    done = mlflow_cli(["run", PROJECT, "--env-manager", "local", "--experiment-name", EXPERIMENT,
                       *args], env, Path.cwd())
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_the_package_installs_lists_without_importing_lightgbm(venv_bin, store):
    done = in_venv(venv_bin, store, venv_bin / "python", "-c", LISTING, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    listed = {p["name"]: p for p in json.loads(done.stdout)}
    assert listed["lightgbm"] == {
        "name": "lightgbm", "source": "package: trackfit-lightgbm 0.1.0", "version": "0.1.0",
        "distribution": "trackfit-lightgbm", "estimators": ["lightgbm"], "datasets": [],
        "error": "",
    }
    # trackfit is not installed here, only imported from the project folder: the built-ins load
    # through the entry point of its editable metadata there, or else straight from its source
    assert listed["scikit_learn"]["source"] in (
        "package: trackfit 0.1.0", "package: trackfit 0.1.0 (source)")
    assert listed["scikit_learn"]["estimators"][:2] == ["linear", "tree"]
    assert "lightgbm imported: False" in done.stderr

    done = in_venv(venv_bin, store, venv_bin / "python", "-c", LISTING, "estimators")
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("lightgbm ")]
    assert line.split()[:2] == ["lightgbm", "lightgbm"] and "[n_jobs=1]" in line
    assert "lightgbm imported: False" in done.stderr


def test_mlflow_run_trains_registers_and_predicts_with_the_package(venv_bin, store, tmp_path):
    train("linear", cv=0)  # a rival, trained here: the steps find runs wherever they are
    mlflow_run(venv_bin, store, "-e", "train", "-P", "estimator=lightgbm")
    # the lab's own rule, highest training R2, makes the boosted trees champion
    mlflow_run(venv_bin, store, "-e", "register", "-P", "metric=training_r2_score")
    output = tmp_path / "predictions.csv"
    mlflow_run(venv_bin, store, "-e", "predict", "-P", f"output={output}")

    trained = {run.data.params["estimator"]: run for run in runs(store, "train", "FINISHED")}
    assert set(trained) == {"linear", "lightgbm"}
    tags, params = trained["lightgbm"].data.tags, trained["lightgbm"].data.params
    assert (tags["trackfit.plugin"], tags["trackfit.plugin_version"],
            tags["trackfit.plugin_distribution"], tags["estimator_name"]) == (
        "lightgbm", "0.1.0", "trackfit-lightgbm", "LGBMRegressor")
    assert (params["n_jobs"], params["random_state"], params["verbose"]) == ("1", "0", "-1")

    client = mlflow.MlflowClient(tracking_uri=store)
    champion = client.get_model_version_by_alias("model-diabetes", "champion")
    assert champion.run_id == trained["lightgbm"].info.run_id
    saved = Path(mlflow.artifacts.download_artifacts("models:/model-diabetes@champion"))
    flavor = yaml.safe_load((saved / "MLmodel").read_text())["flavors"]["lightgbm"]
    assert (flavor["serialization_format"], flavor["data"]) == ("skops", "model.skops")
    assert "lightgbm==4.7.0" in (saved / "requirements.txt").read_text().split()

    expected = tmp_path / "in-memory.csv"
    done = in_venv(venv_bin, store, venv_bin / "python", "-c", IN_MEMORY, expected)
    assert done.returncode == 0, done.stderr
    predicted, wanted = pd.read_csv(output), pd.read_csv(expected)
    assert len(predicted) == 442
    pd.testing.assert_frame_equal(predicted, wanted, check_exact=False, rtol=1e-12)
    predict_run = runs(store, "predict", "FINISHED")[0]
    assert predict_run.data.tags["trackfit.rows"] == "442"


def test_the_tutorial_package_installs_with_pip_and_is_listed(venv_bin, store, tmp_path):
    folder = tmp_path / "trackfit-huber"
    folder.mkdir()
    for name in ("trackfit_huber.py", "pyproject.toml"):
        (folder / name).write_text(tutorial_file(f"trackfit-huber/{name}"))
    done = in_venv(venv_bin, store, venv_bin / "pip", "install", "--quiet", "./trackfit-huber")
    assert done.returncode == 0, done.stderr

    done = in_venv(venv_bin, store, venv_bin / "python", "-m", "trackfit", "plugins")
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("huber "))
    assert lines[at].split() == ["huber", "0.1.0", "package:", "trackfit-huber", "0.1.0"]
    assert lines[at + 1].split() == ["huber"]
    done = in_venv(venv_bin, store, venv_bin / "python", "-m", "trackfit", "estimators")
    assert "huber          huber          Least squares that shrugs off outliers  [max_iter=1000]" \
        in done.stdout.splitlines()
