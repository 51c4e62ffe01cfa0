"""The README as a newcomer reads it: every command of its ```sh blocks runs as printed, on a
fresh copy of the project and a fresh store, and every run lands in experiment-diabetes."""

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from .conftest import (EXPERIMENT, PROJECT, call_main, checkout_files, entry_points_here,
                       mlflow_cli, shell, spark_missing, trackfit_of)
from .test_experiment import entry_point_shim

README = PROJECT / "README.md"
BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S)

# Commands the test does not run, by how they start, and why.
SKIPPED = (
    ("make server", "starts PostgreSQL and a tracking server (tests/test_server.py, .ci/run)"),
    ("make spark", "starts a Spark cluster (tests/test_spark.py with TRACKFIT_SPARK_MASTER)"),
    ("make ", "builds .venv (tests/test_quickstart.py runs make lab)"),
    ("pip install", "installs into the environment (tests/test_package.py and "
                    "tests/test_plugin_packages.py install into fresh ones)"),
    ("export ", "points the shell at a team server or cluster"),
    ("mlflow run https:", "a placeholder repository (tests/test_reproducible.py runs git URLs)"),
    ("mlflow run file:", "a placeholder path (tests/test_reproducible.py runs git URLs)"),
    ("mlflow run . -e predict ...", "a Spark cluster"),
    ("mlflow run . -e train -P estimator=lightgbm", "needs the example package the block "
                                                    "installs (tests/test_plugin_packages.py)"),
)
# Whole blocks that only make sense with their server or cluster up.
SKIPPED_BLOCKS = ("make server", "make spark")
ENV_MANAGERS = {None: "conda: builds a conda environment",
                "uv": "builds a uv environment (tests/test_experiment.py, the card's commands)"}


def commands(text):
    """[(line as printed, argv)] of every ```sh block; comments and continuations as in sh."""
    found = []
    for block in BLOCK.findall(text):
        lines = block.replace("\\\n", " ").splitlines()
        argvs = [(line.strip(), shlex.split(line, comments=True)) for line in lines]
        argvs = [(line, argv) for line, argv in argvs if argv]
        if any(line.startswith(SKIPPED_BLOCKS) for line, _ in argvs):
            found.extend((line, None) for line, _ in argvs)
            continue
        found.extend(argvs)
    return found


def skipped(line, argv):
    """Why ``line`` is not run here, or None."""
    if argv is None:
        return "its block needs a server or cluster running"
    for start, reason in SKIPPED:
        if line.startswith(start):
            return reason
    if argv[:2] == ["mlflow", "run"]:
        manager = argv[argv.index("--env-manager") + 1] if "--env-manager" in argv else None
        if manager in ENV_MANAGERS:
            return ENV_MANAGERS[manager]
        if any(a.startswith("spark=local") for a in argv) and spark_missing():
            return spark_missing()
    return None


def test_the_readme_and_pyproject_agree_on_python():
    need = re.search(r"You need Python (3\.\d+) or newer", README.read_text()).group(1)
    requires = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"][
        "requires-python"]
    assert requires == f">={need}"


def test_every_readme_command_is_run_or_skipped_for_a_reason():
    listed = commands(README.read_text())
    assert len(listed) > 30
    run = [line for line, argv in listed if not skipped(line, argv)]
    assert any(line.startswith("mlflow run . -e predict") for line in run)
    for line, argv in listed:
        if not skipped(line, argv):
            assert argv[0] in ("mlflow", "trackfit", "python", "cd"), line


def fresh_copy(root):
    """The project as a fresh clone has it: its files, committed, nothing generated."""
    copy = checkout_files(root / "trackfit")
    git = ["git", "-c", "user.name=newcomer", "-c", "user.email=newcomer@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "fresh clone"]):
        subprocess.run([*git, *args], cwd=copy, check=True, capture_output=True)
    return copy


def shell_env(uri, copy, shim):
    """A newcomer's shell: the venv's bin first, no experiment named, the fresh store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # trackfit from the copy, as an editable install of a clone has it
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (copy, shim) if p)
    env["MLFLOW_TRACKING_URI"] = uri
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return env


def latest_training_run(uri):
    client = mlflow.MlflowClient(tracking_uri=uri)
    lab = client.get_experiment_by_name(EXPERIMENT)
    (run,) = client.search_runs([lab.experiment_id], "tags.`trackfit.step` = 'train' and "
                                "attributes.status = 'FINISHED'",
                                order_by=["attributes.start_time DESC"], max_results=1)
    return run.info.run_id


@pytest.mark.slow
def test_every_readme_command_works_as_printed(tmp_path, monkeypatch, capfd, spark_if_present):
    """Each command in this process, trackfit as the copy's (its checkout, its plugins, its
    git commit): ``mlflow run`` by MLflow's own command line with its entry point called
    here (conftest.entry_points_here), the Spark lines on the test session's SparkSession.
    The same kinds of command run as new processes in tests/test_package.py (trackfit main
    in an empty folder), test_experiment.py and test_tune.py (mlflow run) and
    test_reproducible.py (mlflow run, rerun)."""
    copy = fresh_copy(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = shell_env(uri, copy, entry_point_shim(tmp_path / "shim"))
    for name in [k for k in os.environ if k.startswith("MLFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(copy)
    mlflow.set_tracking_uri(uri)
    mlflow.tracking.fluent._active_experiment_id = None
    from trackfit.tracking import runs as tracking

    tracking.client.cache_clear()
    failures, ran = [], []
    with trackfit_of(copy), entry_points_here():
        for line, argv in commands(README.read_text()):
            if skipped(line, argv):
                continue
            if "<run_id>" in line:
                argv = [a.replace("<run_id>", latest_training_run(uri)) for a in argv]
            ran.append(line)
            capfd.readouterr()
            if argv[0] == "cd":  # cd <an empty folder> && trackfit main: its own ./mlflow.db
                folder = tmp_path / "empty"
                folder.mkdir()
                rest = argv[argv.index("&&") + 1:]
                alone = dict(env)
                alone.pop("MLFLOW_TRACKING_URI")
                with shell(alone, folder):
                    code = call_main(rest[1:])
                output = capfd.readouterr().err
                there = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
                assert there.get_experiment_by_name(EXPERIMENT) is not None, line
            elif argv[0] == "mlflow":  # MLflow's command line, the entry point here
                done = mlflow_cli(argv[1:], env, copy)
                code, output = done.returncode, done.stderr
            else:  # trackfit <step>, python -m trackfit <step>
                code = call_main(argv[1:] if argv[0] == "trackfit" else argv[3:])
                output = capfd.readouterr().err
            if code != 0:
                failures.append(f"{line}\n  exit {code}: {output[-1500:]}")
    assert not failures, "\n".join(failures)
    assert len(ran) >= 20
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert client.search_runs(["0"]) == []  # nothing in Default
    lab = client.get_experiment_by_name(EXPERIMENT)
    steps = {r.data.tags.get("trackfit.step") for r in client.search_runs([lab.experiment_id])}
    assert {"main", "load", "train", "compare", "register", "predict", "tune"} <= steps
    predicted = pd.read_parquet(copy / "predictions.parquet")
    patients = pd.read_csv(copy / "examples" / "new_patients.csv")
    assert len(predicted) == len(patients) and "prediction" in predicted.columns
    trained = client.search_runs([lab.experiment_id], "tags.`trackfit.step` = 'train'")
    assert "0.5" in {r.data.params.get("alpha") for r in trained
                     if r.data.params["estimator"] == "ridge"}  # -P params="alpha=0.5"
    champion = client.get_model_version_by_alias("model-diabetes", "champion")
    assert client.get_run(champion.run_id).data.params["estimator"] == "linear"
