"""Fast by default: every core unless n_jobs says otherwise, the same numbers either way, and
the SQLite store in write-ahead mode with every run whole."""

import os
import sqlite3

import mlflow
import pytest

from trackfit.cli import main as cli_main
from trackfit.estimators import plugins
from trackfit.entrypoints.main import main
from trackfit.entrypoints.tune import tune
from trackfit.fitting.pool import cores, workers
from trackfit.tracking import store as storemod

from .conftest import model_metrics, runs

BUILT_IN = ["linear", "tree", "ridge", "lasso", "elasticnet", "knn", "svr", "forest",
            "extra-trees", "gbr", "hist-gb", "dummy"]


def test_n_jobs_0_is_every_core_this_process_may_use():
    assert cores() == len(os.sched_getaffinity(0)) >= 1
    assert workers(0) == cores() and workers(1) == 1 and workers(3) == 3


def test_main_defaults_to_one_worker_per_core_and_says_so(store):
    main()
    (parent,) = runs(store, "main")
    assert parent.data.params["n_jobs"] == str(min(cores(), 2))  # two estimators: two at most


def test_a_negative_n_jobs_is_one_line_and_a_failed_run(store, capsys):
    assert cli_main(["main", "--n_jobs", "-1"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == ("trackfit: error: n_jobs must be 0 (all the cores this process may use) "
                    "or a number of workers, at least 1; got -1")
    assert [r.info.status for r in runs(store, "main")] == ["FAILED"]
    assert runs(store, "train") == []


@pytest.mark.slow
def test_the_twelve_built_ins_score_the_same_one_at_a_time_and_all_at_once(store):
    """Each built-in trained twice, in two runs: every metric as stored the same, to the
    last digit (the reproducibility of each estimator, and of the workers)."""
    assert BUILT_IN == [s.name for s in plugins.catalogue().specs if s.plugin == "scikit_learn"]
    parallel = max(2, cores())
    results = {n: main(estimators=BUILT_IN, n_jobs=n)["train"] for n in (1, parallel)}
    client = mlflow.MlflowClient()
    scored = {n: {r["estimator"]: model_metrics(client.get_run(r["run_id"]).data.metrics)
                  for r in results[n]} for n in results}
    assert sorted(scored[1]) == sorted(BUILT_IN)
    assert "cv_r2_score" in scored[1]["hist-gb"]
    for name in BUILT_IN:  # exactly the same floats, CV folds included
        assert scored[1][name] == scored[parallel][name], name
    for first, second in zip(*results.values()):
        assert first["run_id"] != second["run_id"]
        assert first["metrics"]["test_r2_score"] == scored[1][first["estimator"]][
            "test_r2_score"]


@pytest.mark.slow
def test_a_tables_pipelines_score_the_same_one_at_a_time_and_all_at_once(store, tmp_path):
    from .test_table import penguins

    data = tmp_path / "penguins.csv"
    penguins().to_csv(data, index=False)
    names = ["linear", "knn", "forest", "extra-trees", "hist-gb"]
    parallel = max(2, cores())  # all at once: the CV folds on the shared fold workers
    results = {n: main(estimators=names, data=str(data), target="body_mass_g", n_jobs=n)
               ["train"] for n in (1, parallel)}
    scored = {n: {r["estimator"]: model_metrics(r["metrics"]) for r in results[n]}
              for n in results}
    assert "cv_r2_score" in scored[1]["forest"]
    for name in names:  # exactly the same floats, CV folds included
        assert scored[1][name] == scored[parallel][name], name


def test_the_store_is_written_ahead_and_whole_after_a_tune(store, capsys):
    path = storemod.sqlite_path(store)
    assert cli_main(["tune", "--estimator", "tree", "--trials", "6", "--cv", "2"]) == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    trials = runs(store, "trial")
    assert len(trials) == 6 and {r.info.status for r in trials} == {"FINISHED"}
    assert all({"max_depth", "estimator"} <= set(r.data.params) for r in trials)
    assert all("cv_r2_score" in r.data.metrics for r in trials)
    # What the exit copies back: the database file alone holds every run.
    storemod.checkpoint(path)
    copy = path + ".copy"
    with sqlite3.connect(path) as db, sqlite3.connect(copy) as target:
        db.backup(target)
    with open(path, "rb") as original, open(copy + ".plain", "wb") as plain:
        plain.write(original.read())  # a plain file copy, as a user would make one
    for candidate in (copy, copy + ".plain"):
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{candidate}")
        experiment = client.get_experiment_by_name("experiment-diabetes")
        found = client.search_runs([experiment.experiment_id],
                                   "tags.`trackfit.step` = 'trial'")
        assert len(found) == 6


def test_tune_defaults_to_one_worker_per_core(store):
    result = tune("tree", trials=4, cv=2)
    parent = mlflow.MlflowClient().get_run(result["run_id"])
    assert parent.data.params["n_jobs"] == str(min(cores(), 4))
