"""Which experiment the runs land in when nobody names one: the lab's where trackfit
chooses; where ``mlflow run`` put its run in Default, the steps work there and say so, and
register there still weighs the champion; register says when its alias leaves another
experiment's version."""

import contextlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from trackfit.cli import main as cli_main
from trackfit.entrypoints.register import register
from trackfit.entrypoints.train import train
from trackfit.tracking import experiment

from .conftest import (EXPERIMENT, PROJECT, conda_pins, entry_points_here, env_for, mlflow_cli,
                       model_metrics, runs, versions)
from .test_reproducible import conda_python, project_copy

GROUP = "mlflow.default_experiment_provider"


@pytest.fixture
def unnamed(store, monkeypatch):
    """The store, with no experiment named anywhere (as a newcomer's shell)."""
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    return store


def test_a_step_with_no_experiment_given_logs_to_the_labs(unnamed, capsys):
    assert cli_main(["train", "--estimator", "linear", "--cv", "0"]) == 0
    (run,) = runs(unnamed, "train", "FINISHED")
    assert run.data.params["estimator"] == "linear"
    default = mlflow.MlflowClient().search_runs(["0"])
    assert default == []


def test_a_named_experiment_still_wins(unnamed, capsys):
    assert cli_main(["--experiment-name", "mine", "train", "--cv", "0"]) == 0
    mine = mlflow.MlflowClient().get_experiment_by_name("mine")
    assert len(mlflow.MlflowClient().search_runs([mine.experiment_id])) == 1
    assert runs(unnamed, "train") == []


def default_beside(uri):
    """Default's artifacts beside the store ``uri`` (its copy names the session's folder)."""
    path = uri.removeprefix("sqlite:///")
    folder = (Path(path).parent / "mlruns" / "0").as_uri()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("update experiments set artifact_location = ? where experiment_id = 0",
                   (folder,))


def mlflow_run_unnamed(uri, *args):
    """``mlflow run <checkout> ARGS --env-manager local`` from the test's folder (no trackfit
    project) with no experiment named: MLflow makes its run in Default. MLflow's command line
    and run are its own; the entry point runs here (conftest.entry_points_here)."""
    env = env_for(uri)
    env.pop("MLFLOW_EXPERIMENT_NAME")
    default_beside(uri)
    with entry_points_here():
        return mlflow_cli(["run", str(PROJECT), "--env-manager", "local", *args], env,
                          Path.cwd())


# MLflow's own log lines ("2026/01/31 12:00:00 INFO mlflow.projects: ..."), not the step's.
MLFLOW_LOG = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d [A-Z]+ mlflow")


def last_words(done):
    """The last line the step wrote to stderr, past MLflow's own log lines."""
    return [line for line in done.stderr.splitlines() if not MLFLOW_LOG.match(line)][-1]


def in_default(step=None):
    return mlflow.MlflowClient().search_runs(
        ["0"], filter_string=f"tags.`trackfit.step` = '{step}'" if step else "")


def test_a_run_mlflow_put_in_default_trains_there_and_says_so(unnamed):
    done = mlflow_run_unnamed(unnamed, "-e", "train", "-P", "estimator=tree", "-P", "cv=0")
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = in_default("train")
    assert run.info.status == "FINISHED"
    assert run.data.params["estimator"] == "tree"
    assert round(run.data.metrics["test_r2_score"], 4) == 0.1066
    assert last_words(done) == experiment.note("train")
    assert "trackfit: error" not in done.stderr
    assert runs(unnamed, "train") == []


def test_compare_and_register_in_default_find_its_runs_and_the_gate_keeps_the_champion(unnamed):
    assert cli_main(["train", "--estimator", "linear", "--cv", "0"]) == 0  # the lab's champion
    assert cli_main(["register"]) == 0
    for _ in range(2):
        done = mlflow_run_unnamed(unnamed, "-e", "train", "-P", "estimator=tree", "-P", "cv=0")
        assert done.returncode == 0, done.stderr[-3000:]
    done = mlflow_run_unnamed(unnamed, "-e", "compare")
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.strip().splitlines()[-1]
    assert "compare: 2 training runs of experiment 'Default'" in line
    assert last_words(done) == experiment.note("compare")
    done = mlflow_run_unnamed(unnamed, "-e", "register")
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.strip().splitlines()[-1]
    assert "refused" in line and "vs champion 0.3929" in line, line
    assert "alias champion stays on version 1" in line
    assert last_words(done) == experiment.note("register")
    (register_run,) = in_default("register")
    assert register_run.data.tags["trackfit.verdict"] == "refused"
    assert [v.version for v in versions(unnamed)] == [1]


def test_main_under_mlflow_run_in_default_runs_the_lab_there(unnamed):
    done = mlflow_run_unnamed(unnamed, "-P", "cv=0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert last_words(done) == experiment.note("main")
    assert len(in_default("train")) == 2
    assert all(r.info.status == "FINISHED" for r in in_default())
    (version,) = versions(unnamed)
    assert in_default("register")[0].data.tags["trackfit.model_version"] == str(version.version)
    assert runs(unnamed) == []
    # predict prints its CSV on stdout: the note stays out of it
    done = mlflow_run_unnamed(unnamed, "-e", "predict", "-P",
                              f"data={PROJECT / 'examples' / 'new_patients.csv'}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(pd.read_csv(io.StringIO(done.stdout))) == 5
    assert last_words(done) == experiment.note("predict")


def test_default_chosen_by_name_is_kept(unnamed, capsys, monkeypatch):
    default_beside(unnamed)
    client = mlflow.MlflowClient()
    made = client.create_run("0")
    monkeypatch.setenv("MLFLOW_RUN_ID", made.info.run_id)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "0")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "Default")
    assert cli_main(["train", "--cv", "0"]) == 0
    assert client.get_run(made.info.run_id).data.tags["trackfit.step"] == "train"
    assert "mlflow run chose it" not in capsys.readouterr().out


def test_the_provider_is_in_context_only_in_a_trackfit_project(unnamed, tmp_path, monkeypatch):
    provider = experiment.LabExperiment()
    assert not provider.in_context()  # the test's folder: no MLproject
    (tmp_path / "MLproject").write_text("name: other\n")
    assert not provider.in_context()
    monkeypatch.chdir(PROJECT)
    assert provider.in_context()
    lab = mlflow.MlflowClient().get_experiment_by_name(EXPERIMENT)
    assert provider.get_experiment_id() == lab.experiment_id


def test_pyproject_declares_the_provider():
    entry = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert entry[GROUP] == {"trackfit": "trackfit.tracking.experiment:LabExperiment"}


def test_register_says_when_the_alias_leaves_another_experiment(store, capsys):
    train("linear", cv=0)
    first = register()
    assert first["experiment"] == EXPERIMENT and first["moved_from"] is None
    mlflow.set_experiment("scratch")
    train("tree", cv=0)
    second = register(metric="training_r2_score")
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert second["version"] == 2 and second["moved_from"] == 1
    assert "best of experiment 'scratch'" in out
    assert "moved from version 1, a run of experiment 'experiment-diabetes'" in out
    # back in the lab's experiment: its best is ranked, never "kept" against scratch's tree
    mlflow.set_experiment(EXPERIMENT)
    third = register()
    assert third["version"] == 1 and third["moved_from"] == 2
    assert "a run of experiment 'scratch'" in capsys.readouterr().out


def entry_point_shim(folder):
    """A distribution declaring pyproject's provider, for a venv whose trackfit metadata
    predates it (an editable install made before the entry point was added)."""
    if any(e.value.startswith("trackfit.") for e in metadata.entry_points(group=GROUP)):
        return None
    entry = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["entry-points"]
    info = folder / "trackfit_experiment_shim-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trackfit-experiment-shim\n"
                                   "Version: 0\n")
    lines = [f"{name} = {value}" for name, value in entry[GROUP].items()]
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n" + "\n".join(lines) + "\n")
    return folder


@pytest.mark.slow
def test_the_cards_commands_run_as_typed_from_an_mlflow_without_trackfit(pins_python, tmp_path):
    """``mlflow run`` from a venv of the pins alone, no trackfit (as conda or uv gives a user):
    the checkout with ``local``, then with ``uv`` (an environment built from conda.yaml's
    pins), a git URL at a commit; the same numbers, to the last digit, each time; compare
    sees every run."""
    clone, commit = project_copy(tmp_path / "trackfit")
    pins_venv, uv = Path(pins_python).parent, Path(sys.executable).parent
    (uv_pin,) = [p for p in tomllib.loads((PROJECT / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]["test"] if p.startswith("uv==")]
    version = subprocess.run([str(uv / "uv"), "--version"], capture_output=True, text=True)
    assert version.stdout.split()[:2] == uv_pin.split("=="), "the test extra pins uv"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MLFLOW_") and k != "PYTHONPATH"}
    env.update(PATH=os.pathsep.join([str(pins_venv), str(uv), env["PATH"]]),
               MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
               MLFLOW_ENV_ROOT=str(tmp_path / "envs"), UV_PYTHON_DOWNLOADS="never")
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    typed = [(clone, ["run", ".", "-e", "train", "-P", "estimator=tree", "--env-manager", "local"]),
             (clone, ["run", ".", "-e", "train", "-P", "estimator=tree", "--env-manager", "uv"]),
             (tmp_path, ["run", f"file://{clone}", "-e", "train", "-P", "estimator=tree",
                         "--version", commit, "--env-manager", "local"]),
             (tmp_path, ["run", f"file://{clone}", "-e", "compare", "--version", commit,
                         "--env-manager", "local"])]
    made = []
    for cwd, args in typed:
        done = subprocess.run([str(pins_venv / "mlflow"), *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        step = args[args.index("-e") + 1]
        assert last_words(done) == experiment.note(step)
        seen = {r.info.run_id for r in made}
        (run,) = [r for r in client.search_runs(["0"]) if r.info.run_id not in seen]
        made.append(run)
    assert [r.info.status for r in made] == ["FINISHED"] * 4
    assert "compare: 3 training runs of experiment 'Default'" in done.stdout
    local, in_uv, at_commit, _ = made
    assert round(local.data.metrics["test_r2_score"], 4) == 0.1066
    for run in (in_uv, at_commit):
        assert model_metrics(run.data.metrics) == model_metrics(local.data.metrics)
    # uv's environment: conda.yaml's Python and exactly its pins, no trackfit (that came from
    # the work directory).
    assert in_uv.data.tags["mlflow.project.env"] == "uv"
    assert in_uv.data.tags["trackfit.python_version"] == conda_python()
    (python,) = (tmp_path / "envs").glob("*/bin/python")
    script = ("import json, sys, importlib.metadata as m, importlib.util as u; "
              "print(json.dumps([[p, m.version(p.split('==')[0])] for p in sys.argv[1:]] "
              "+ [u.find_spec('trackfit') is not None]))")
    elsewhere = tmp_path / "elsewhere"  # not beside the clone, a folder named trackfit
    elsewhere.mkdir()
    out = subprocess.run([str(python), "-c", script, *conda_pins()], capture_output=True,
                         text=True, cwd=elsewhere, check=True).stdout
    *installed, has_trackfit = json.loads(out)
    assert [f"{p.split('==')[0]}=={v}" for p, v in installed] == conda_pins()
    assert has_trackfit is False
    # The git URL's run records the commit it ran.
    for tag in ("mlflow.source.git.commit", "trackfit.git_commit"):
        assert at_commit.data.tags[tag] == commit
    assert at_commit.data.tags["trackfit.git_dirty"] == "false"
