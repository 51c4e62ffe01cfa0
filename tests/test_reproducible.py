"""Reproducible anywhere: the pinned env built by uv, runs from a git URL, identical numbers,
what each run records, and `python -m trackfit rerun`."""

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

import trackfit
from trackfit.engines import pandas as datamod
from trackfit.engines.source import parse
from trackfit.entrypoints.train import train

from .conftest import (EXPERIMENT, PROJECT, checkout_files, env_for, mlflow_cli, model_metrics,
                       trackfit_of)

BIN = Path(sys.executable).parent
RUN_ID = re.compile(r"Run \(ID '([0-9a-f]+)'\) succeeded")
GIT_USER = {"GIT_AUTHOR_NAME": "trackfit tests", "GIT_AUTHOR_EMAIL": "tests@trackfit.invalid",
            "GIT_COMMITTER_NAME": "trackfit tests",
            "GIT_COMMITTER_EMAIL": "tests@trackfit.invalid"}


def conda_env():
    return yaml.safe_load((PROJECT / "conda.yaml").read_text())


def conda_python():
    """The Python version conda.yaml pins: 'python=3.11.7' -> '3.11.7'."""
    pins = [d for d in conda_env()["dependencies"] if isinstance(d, str)]
    return next(d.split("=", 1)[1] for d in pins if d.startswith("python="))


def clean_env(uri, **extra):
    """A user's shell with this venv active (mlflow, uv) and no PYTHONPATH, so trackfit
    comes from the project's work directory."""
    env = env_for(uri, **extra)
    env.pop("PYTHONPATH")
    return env


def mlflow_run(uri, project, *args, **extra):
    """``mlflow run PROJECT ARGS --env-manager local``; returns the finished run, or fails
    with MLflow's output."""
    done = mlflow_cli(["run", str(project), "--env-manager", "local",
                       "--experiment-name", EXPERIMENT, *args], clean_env(uri, **extra),
                      uri.removeprefix("sqlite:///").rsplit("/", 1)[0])
    found = RUN_ID.search(done.stderr)
    assert done.returncode == 0 and found, done.stdout[-3000:] + done.stderr[-3000:]
    return mlflow.MlflowClient(tracking_uri=uri).get_run(found.group(1))


def trackfit_cli(uri, folder, *args):
    """``python -m trackfit ARGS`` run from ``folder``: the trackfit of that checkout."""
    return subprocess.run(
        [sys.executable, "-m", "trackfit", *args], capture_output=True, text=True,
        env=clean_env(uri), cwd=folder, timeout=600,
    )


def git(folder, *args):
    done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                          env={**os.environ, **GIT_USER}, check=True)
    return done.stdout.strip()


def project_copy(folder):
    """A copy of this checkout as a new git repository: (folder, commit)."""
    checkout_files(folder)
    git(folder, "init", "--quiet", "--initial-branch=main")
    git(folder, "add", "--all")
    git(folder, "commit", "--quiet", "-m", "trackfit, as tested")
    return folder, git(folder, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory, empty_store):
    """One store for the subprocess tests of this module (they share the baseline run)."""
    path = tmp_path_factory.mktemp("reproducible") / "mlflow.db"
    shutil.copy(empty_store, path)
    uri = f"sqlite:///{path}"
    # Artifacts beside the store, wherever the processes that log them run.
    mlflow.MlflowClient(tracking_uri=uri).create_experiment(
        EXPERIMENT, artifact_location=(path.parent / "mlartifacts").as_uri())
    return uri


@pytest.fixture(scope="module")
def local_tree(shared_store):
    """The baseline: ``mlflow run <checkout> -e train -P estimator=tree --env-manager local``."""
    return mlflow_run(shared_store, PROJECT, "-e", "train", "-P", "estimator=tree")


# --- identical numbers, what a run records -------------------------------------------------


# Every built-in gives identical metrics twice, to the last digit as stored:
# tests/test_fast_defaults.py, one at a time and all at once.


def test_a_training_run_records_what_reproduces_it(store):
    result = train("tree", data="diabetes", cv=0)
    run = mlflow.MlflowClient().get_run(result["run_id"])
    tags = run.data.tags
    assert tags["trackfit.version"] == trackfit.__version__
    assert tags["trackfit.python_version"] == platform.python_version()
    assert "trackfit.plugin_distribution" in tags and "trackfit.plugin_version" in tags
    assert tags["trackfit.plugin"] == "scikit_learn"
    inputs = run.inputs.dataset_inputs
    assert [i.dataset.digest for i in inputs] == [tags["trackfit.data_digest"]]
    assert tags["trackfit.data_digest"] == datamod.dataset(datamod.load(parse("diabetes")),
                                                           parse("diabetes")).digest
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT, capture_output=True,
                          text=True)
    if head.returncode == 0:
        assert tags["trackfit.git_commit"] == head.stdout.strip()
        assert tags["trackfit.git_dirty"] in ("true", "false")
    else:
        assert "trackfit.git_commit" not in tags


# --- runs from a git URL at a branch (at a commit, and in uv's environment: the card's test,
# tests/test_experiment.py, from an mlflow without trackfit) ---------------------------------


@pytest.fixture(scope="module")
def git_project(tmp_path_factory):
    """A git repo of the checkout: main at one commit, branch 'release' one commit ahead."""
    folder, first = project_copy(tmp_path_factory.mktemp("git") / "trackfit")
    git(folder, "checkout", "--quiet", "-b", "release")
    (folder / "RELEASE").write_text("release branch\n")
    git(folder, "add", "RELEASE")
    git(folder, "commit", "--quiet", "-m", "release")
    second = git(folder, "rev-parse", "HEAD")
    git(folder, "checkout", "--quiet", "main")
    return folder, first, second


@pytest.mark.slow
def test_git_url_run_at_a_branch_records_its_commit_and_gives_the_local_metrics(
        shared_store, local_tree, git_project):
    folder, _, release = git_project
    run = mlflow_run(shared_store, f"file://{folder}", "-e", "train", "-P", "estimator=tree",
                     "--version", "release")
    assert run.data.tags["mlflow.source.git.commit"] == release
    assert run.data.tags["trackfit.git_commit"] == release
    assert run.data.tags["trackfit.git_dirty"] == "false"
    assert model_metrics(run.data.metrics) == model_metrics(local_tree.data.metrics)


# --- rerun -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rerun_setup(tmp_path_factory, shared_store):
    """A committed copy of the checkout and a tree run trained there on a CSV file."""
    root = tmp_path_factory.mktemp("rerun")
    folder, _ = project_copy(root / "trackfit")
    csv = root / "diabetes.csv"
    datamod.load(parse("diabetes")).to_csv(csv, index=False)
    done = trackfit_cli(shared_store, folder, "train", "--estimator", "tree",
                        "--params", "max_depth=4", "--data", str(csv))
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"run ([0-9a-f]{32})", done.stdout).group(1)
    return folder, csv, run_id


def reruns_of(uri, run_id):
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return client.search_runs([experiment.experiment_id],
                              f"tags.`trackfit.rerun_of` = '{run_id}'")


@pytest.mark.slow
def test_rerun_of_a_tree_run_matches_metric_by_metric(shared_store, rerun_setup):
    folder, _, run_id = rerun_setup
    before = len(reruns_of(shared_store, run_id))
    done = trackfit_cli(shared_store, folder, "rerun", run_id)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  test_r2_score +\S+ +\S+ +same$", done.stdout, re.M), done.stdout
    assert "DIFFERS" not in done.stdout
    assert f"rerun: all 18 metrics match run {run_id}" in done.stdout
    new = reruns_of(shared_store, run_id)
    assert len(new) == before + 1
    assert new[0].data.params["max_depth"] == "4"
    assert new[0].data.tags["trackfit.git_commit"] == git(folder, "rev-parse", "HEAD")


def test_rerun_never_compares_the_cost_under_its_former_name():
    """A run logged before the cost was named for its unit holds predict_latency_ms."""
    from trackfit.cli.rerun import compare_metrics

    rows = compare_metrics({"test_r2_score": 0.3929, "predict_latency_ms": 0.21},
                           {"test_r2_score": 0.3929, "predict_ms_per_1k_rows": 0.19})
    assert rows == [("test_r2_score", 0.3929, 0.3929, True)]


@pytest.mark.slow
def test_rerun_refuses_when_the_code_changed_unless_forced(shared_store, rerun_setup, run_cli):
    """In this process, trackfit as the copy's (the test above runs rerun as a new one)."""
    folder, _, run_id = rerun_setup
    plugin = folder / "trackfit" / "estimators" / "builtin.py"
    original = plugin.read_text()
    before = len(reruns_of(shared_store, run_id))
    try:
        plugin.write_text(original + "\n# a local change\n")
        with trackfit_of(folder):
            done = run_cli("rerun", run_id, uri=shared_store, cwd=folder)
        assert done.returncode == 2
        assert done.stderr.startswith(f"trackfit: error: will not rerun {run_id}: ")
        assert "uncommitted changes" in done.stderr and "--force" in done.stderr
        assert len(reruns_of(shared_store, run_id)) == before
        with trackfit_of(folder):
            forced = run_cli("rerun", run_id, "--force", uri=shared_store, cwd=folder)
        assert forced.returncode == 0, forced.stderr
        assert "rerun: warning: the code here has uncommitted changes" in forced.stdout
        runs = reruns_of(shared_store, run_id)
        assert len(runs) == before + 1
        assert runs[0].data.tags["trackfit.rerun_forced"] == "true"
    finally:
        plugin.write_text(original)


@pytest.mark.slow
def test_rerun_reports_a_clear_mismatch_when_the_data_changed(shared_store, rerun_setup,
                                                              run_cli):
    """In this process, trackfit as the copy's (the first rerun test runs rerun as a new one)."""
    folder, csv, run_id = rerun_setup
    original = csv.read_text()
    try:
        frame = datamod.load(parse(str(csv)))
        frame.loc[frame.index[::7], "Y"] += 25  # the same file, some targets changed
        frame.to_csv(csv, index=False)
        with trackfit_of(folder):
            done = run_cli("rerun", run_id, uri=shared_store, cwd=folder)
        assert done.returncode == 1
        assert re.search(r"^  test_r2_score +\S+ +\S+ +DIFFERS$", done.stdout, re.M), done.stdout
        line = done.stderr.strip()
        assert line.startswith("trackfit: error: rerun ") and "\n" not in line
        assert f"differs from run {run_id} in" in line
        assert "the data changed since (digest" in line
        assert line.endswith("the rerun is marked FAILED, so compare and register leave it out")
        rerun_id = line.split()[3]
        # not a candidate: a rerun that did not reproduce is never ranked or promoted
        assert mlflow.MlflowClient(shared_store).get_run(rerun_id).info.status == "FAILED"
    finally:
        csv.write_text(original)
