"""Which experiment the runs land in when nobody names one: the lab's, never Default by
accident; and register says when its alias leaves another experiment's version."""

import os
import shutil
import tomllib
from importlib import metadata

import mlflow
import pytest

from trackfit.cli import main as cli_main
from trackfit.entrypoints.register import register
from trackfit.entrypoints.train import train
from trackfit.tracking import experiment

from .conftest import EXPERIMENT, PROJECT, env_for, mlflow_cli, runs

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


def test_a_run_mlflow_put_in_default_stops_with_one_line(unnamed, capsys, monkeypatch):
    client = mlflow.MlflowClient()
    made = client.create_run("0")  # what `mlflow run` does with no experiment named
    monkeypatch.setenv("MLFLOW_RUN_ID", made.info.run_id)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "0")
    assert cli_main(["train", "--estimator", "tree", "--cv", "0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "in experiment 'Default'" in err
    assert f"--experiment-name {EXPERIMENT}" in err
    assert client.get_run(made.info.run_id).info.status == "FAILED"
    assert "estimator" not in client.get_run(made.info.run_id).data.params
    assert runs(unnamed, "train") == []


def test_default_chosen_by_name_is_kept(unnamed, capsys, monkeypatch):
    client = mlflow.MlflowClient()
    made = client.create_run("0")
    monkeypatch.setenv("MLFLOW_RUN_ID", made.info.run_id)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "0")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "Default")
    assert cli_main(["train", "--cv", "0"]) == 0
    assert client.get_run(made.info.run_id).data.tags["trackfit.step"] == "train"


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


def mlflow_run_unnamed(uri, project, cwd, tmp_path, *args):
    env = env_for(uri)
    env.pop("MLFLOW_EXPERIMENT_NAME")
    shim = entry_point_shim(tmp_path / "shim")
    if shim:
        env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), str(shim)])
    return mlflow_cli(["run", str(project), "--env-manager", "local", "-e", "train", "-P",
                       "cv=0", *args], env, cwd)


@pytest.mark.slow
def test_mlflow_run_from_elsewhere_says_what_to_pass(store, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = mlflow_run_unnamed(store, PROJECT, elsewhere, tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("trackfit: error")]
    assert len(errors) == 1 and f"--experiment-name {EXPERIMENT}" in errors[0]
    (made,) = mlflow.MlflowClient().search_runs(["0"])
    assert made.info.status == "FAILED"
    assert runs(store, "train") == []
    shutil.rmtree(elsewhere)
