"""The README's first quickstart command, `make lab`, as a user types it."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PROJECT, env_for, runs, versions


@pytest.mark.slow  # make lab: mlflow run of the whole lab
def test_make_lab_runs_the_whole_lab(store):
    venv = Path(sys.prefix)
    if not (venv / ".installed").exists():
        pytest.skip("needs the venv `make test` builds, which `make lab` reuses")
    env = env_for(store)
    # A user's shell: the venv is not activated; `make lab` must find its own python.
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if Path(p) != venv / "bin")
    result = subprocess.run(["make", "lab", f"VENV={venv}"], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    # The store whole in its one file: no write-ahead log left beside it (looked at before
    # this process reads the store), every run in it.
    path = Path(store.removeprefix("sqlite:///"))
    assert not list(path.parent.glob("mlflow.db-*")), "a write-ahead log left beside the store"
    with sqlite3.connect(path) as db:
        assert db.execute("select status, count(*) from runs group by status").fetchall() == [
            ("FINISHED", 6)]
        assert db.execute("select alias, version from registered_model_aliases").fetchall() == [
            ("champion", 1)]
    assert sorted(r.data.params["estimator"] for r in runs(store, "train", "FINISHED")) == [
        "linear", "tree"]
    assert len(runs(store, "compare", "FINISHED")) == 1
    assert [int(v.version) for v in versions(store)] == [1]
