"""tune: seeded searches, trials as nested child runs, the refitted best model, bad spaces,
rejected trials, Ctrl-C; main over every installed estimator."""

import signal
import subprocess
import sys
import time

import mlflow
import pytest

from trackfit import TrackfitError
from trackfit.estimators import plugins, space
from trackfit.entrypoints.main import main
from trackfit.fitting.training import installed
from trackfit.entrypoints.register import register
from trackfit.entrypoints.train import train
from trackfit.entrypoints.tune import tune

from .conftest import PROJECT, entry_points_here, env_for, mlflow_run, runs, versions


def children(uri, parent_id, step="trial"):
    return [r for r in runs(uri, step)
            if r.data.tags.get("mlflow.parentRunId") == parent_id]


def test_a_seeded_tune_gives_the_same_trials_and_best_params_twice(store):
    first = tune("tree", trials=10, random_state=3)
    second = tune("tree", trials=10, random_state=3)
    assert first["best_params"] == second["best_params"]
    assert first["best_trial"] == second["best_trial"]
    trials = [sorted((int(r.data.tags["trackfit.trial"]), str(r.data.params))
                     for r in children(store, result["run_id"])) for result in (first, second)]
    assert trials[0] == trials[1] and len(trials[0]) == 10
    assert set(first["best_params"]) == set(plugins.catalogue().get("tree").search_space)


def test_trials_are_nested_counted_and_the_parent_holds_the_best(store, capsys):
    result = tune("ridge", space="alpha=loguniform(1e-3,100)", trials=6, cv=3)
    client = mlflow.MlflowClient()
    parent = client.get_run(result["run_id"])
    assert parent.data.tags["trackfit.step"] == "tune" and parent.info.status == "FINISHED"
    trials = children(store, result["run_id"])
    assert len(trials) == 6 == int(parent.data.tags["trackfit.trials"])
    assert {r.info.status for r in trials} == {"FINISHED"}
    assert all(set(r.data.params) == {"alpha", "estimator"} for r in trials)
    assert all("cv_r2_score" in r.data.metrics and "test_r2_score" not in r.data.metrics
               for r in trials)  # the held-out split never scores a trial
    best = max(trials, key=lambda r: r.data.metrics["cv_r2_score"])
    assert parent.data.tags["trackfit.best_trial"] == best.data.tags["trackfit.trial"]
    assert parent.data.tags["trackfit.best_trial_run_id"] == best.info.run_id
    assert parent.data.metrics["cv_r2_score"] == best.data.metrics["cv_r2_score"]
    # The refit: a training run nested under the tune run, with the same CV score.
    (refit,) = children(store, result["run_id"], "train")
    assert refit.info.run_id == parent.data.tags["trackfit.model_run_id"]
    assert refit.data.metrics["cv_r2_score"] == pytest.approx(best.data.metrics["cv_r2_score"])
    assert float(refit.data.params["alpha"]) == float(best.data.params["alpha"])
    assert refit.data.tags["trackfit.tune_run_id"] == result["run_id"]
    assert refit.data.tags["trackfit.best_trial"] == best.data.tags["trackfit.trial"]
    assert "test_r2_score" in refit.data.metrics
    assert mlflow.sklearn.load_model(parent.data.tags["trackfit.model_uri"]).alpha == \
        pytest.approx(float(best.data.params["alpha"]))
    assert "tune: 6/6 trials, best cv_r2_score" in capsys.readouterr().err


def test_register_picks_the_tuned_model(store):
    train("tree")  # the lab's depth-5 tree: overfit, poor CV score
    tuned = tune("tree", space="max_depth=2|3|4,min_samples_leaf=10|20", search="grid")
    assert tuned["trials"] == 6
    result = register(metric="cv_r2_score")
    assert result["model_run_id"] == tuned["train"]["run_id"]
    (version,) = versions(store)
    assert version.run_id == tuned["train"]["run_id"]


def test_a_trial_the_estimator_rejects_fails_and_the_search_goes_on(store):
    result = tune("tree", space="max_depth=0|2|3", search="grid", trials=50, cv=2)
    trials = children(store, result["run_id"])
    assert len(trials) == 3 and result["failed"] == 1
    (failed,) = [r for r in trials if r.info.status == "FAILED"]
    assert failed.data.params["max_depth"] == "0"
    assert "max_depth" in failed.data.tags["trackfit.error"]
    assert "cv_r2_score" not in failed.data.metrics
    assert result["best_params"]["max_depth"] in (2, 3)
    parent = mlflow.MlflowClient().get_run(result["run_id"])
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials_failed"] == 1


@pytest.mark.parametrize("args, message", [
    (["--estimator", "ridge", "--space", "alpah=loguniform(1e-3,100)"],
     "estimator 'ridge' has no hyperparameter 'alpah' to search; did you mean alpha?"),
    (["--estimator", "ridge", "--space", "alpha=loguniform(100,1)"], "needs low < high"),
    (["--estimator", "ridge", "--space", "alpha=loguniform(1e-3"], "cannot read space entry"),
    (["--estimator", "tree", "--space", "max_depth=int(2,x)"], "int() takes two ints"),
    (["--estimator", "linear"], "has no default search space and no space was given"),
    (["--estimator", "tree", "--search", "grid"], "search=grid needs choices"),
    (["--estimator", "tree", "--search", "bayes"], "unknown search 'bayes'"),
    # scikit-learn reads max_features=1 as one feature and 1.0 as all: never merged into one
    (["--estimator", "tree", "--search", "grid", "--space", "max_features=1|1.0"],
     "1 and 1.0 are one choice to the search, which would try only the first"),
    # 7 x 6**4 x 4 x 2 x 5 = 362,880 points for 2 trials: refused, not laid out in memory
    (["--estimator", "tree", "--search", "grid", "--trials", "2", "--space",
      "max_depth=1|2|3|4|5|6|7,min_samples_split=2|3|4|5|6|7,min_samples_leaf=1|2|3|4|5|6,"
      "max_leaf_nodes=10|20|30|40|50|60,ccp_alpha=0|1|2|3|4|5,"
      "criterion=squared_error|friedman_mse|absolute_error|poisson,splitter=best|random,"
      "min_weight_fraction_leaf=0|0.1|0.2|0.3|0.4"],
     "the grid has 362,880 points (7 x 6 x 6 x 6 x 6 x 4 x 2 x 5); a grid search shuffles"),
])
def test_a_bad_space_is_one_line_before_any_trial(run_cli, store, args, message):
    done = run_cli("tune", *args)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("trackfit: error: ") and message in line
    assert "Traceback" not in done.stderr
    assert len(runs(store, "trial")) == 0
    assert [r.info.status for r in runs(store, "tune")] == ["FAILED"]


def test_the_space_syntax():
    parsed = space.parse("alpha=loguniform(1e-3,100),max_depth=2|3|5|8|none,"
                         "x=uniform(0,1),n=int(2,10),k=logint(1,1000),criterion=poisson")
    assert space.to_text(parsed) == ("alpha=loguniform(0.001,100.0),max_depth=2|3|5|8|none,"
                                     "x=uniform(0.0,1.0),n=int(2,10),k=logint(1,1000),"
                                     "criterion=poisson")
    assert parsed["max_depth"].choices == (2, 3, 5, 8, None)
    assert space.parse("") == {}
    for bad in ("alpha", "alpha=", "alpha=normal(0,1)", "alpha=uniform(1)", "a=1||2",
                "n=int(1.5,3)", "alpha=loguniform(-1,1)"):
        with pytest.raises(TrackfitError, match="cannot read space entry"):
            space.parse(bad)


def test_a_plugin_with_a_malformed_search_space_is_reported_and_skipped(store, tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "badspace.py").write_text(
        "import pluggy\nhookimpl = pluggy.HookimplMarker('trackfit')\n\n"
        "@hookimpl\ndef register_estimators(register):\n"
        "    register('huber', 'sklearn.linear_model:HuberRegressor',\n"
        "             search_space={'epsilon': 'uniform(2,1)'})\n")
    plugins.reset()
    (info,) = [p for p in plugins.catalogue().plugins if p.name == "badspace"]
    assert "search_space epsilon='uniform(2,1)'" in info.error and "low < high" in info.error
    assert "huber" not in plugins.catalogue().names()


def test_parallel_trials_are_each_a_child_run(store):
    result = tune("knn", space="n_neighbors=int(2,40)", trials=6, n_jobs=2, cv=3)
    trials = children(store, result["run_id"])
    assert sorted(int(r.data.tags["trackfit.trial"]) for r in trials) == list(range(6))
    assert {r.info.status for r in trials} == {"FINISHED"}
    again = tune("knn", space="n_neighbors=int(2,40)", trials=6, n_jobs=2, cv=3)
    assert again["best_params"] == result["best_params"]  # batches asked and told in order


@pytest.mark.slow  # python -m trackfit, interrupted: exit code 130
def test_ctrl_c_keeps_finished_trials_and_kills_the_tune_run(store):
    process = subprocess.Popen(
        [sys.executable, "-m", "trackfit", "tune", "--estimator", "tree", "--trials", "2000",
         "--cv", "2"], cwd=PROJECT, env=env_for(store), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(runs(store, "trial")) < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "trackfit: interrupted"
    (parent,) = runs(store, "tune")
    assert parent.info.status == "KILLED"
    trials = runs(store, "trial")
    assert len(trials) >= 3 and {r.info.status for r in trials} == {"FINISHED"}
    assert len(runs(store, "train")) == 0


def test_main_over_all_estimators_trains_every_installed_one(store, capsys):
    result = main(estimators=["all"], cv=0, n_jobs=2)
    built_in = [s.name for s in plugins.catalogue().specs if s.plugin == "scikit_learn"]
    assert len(built_in) == 12
    assert [r["estimator"] for r in result["train"]] == installed()
    assert set(built_in) < set(installed())  # and the project's drop-in example
    trained = runs(store, "train", "FINISHED")
    assert sorted(r.data.params["estimator"] for r in trained) == sorted(installed())
    (parent,) = runs(store, "main")
    assert {r.data.tags["mlflow.parentRunId"] for r in trained} == {parent.info.run_id}
    err = capsys.readouterr().err
    assert f"main: {len(installed())}/{len(installed())} estimators trained, best" in err
    # Trained two at a time, each run's numbers are the lab's.
    lab = {r.data.params["estimator"]: r.data.metrics for r in trained}
    assert round(lab["linear"]["test_r2_score"], 4) == 0.3929
    assert round(lab["tree"]["training_r2_score"], 4) == 0.7321


def test_mlflow_run_tune_entry_point(store):
    """MLflow's command line and run, the tune step here (conftest.entry_points_here)."""
    with entry_points_here():
        done = mlflow_run(store, "-e", "tune", "-P", "estimator=tree", "-P",
                          "space=max_depth=2|3,min_samples_leaf=1|20", "-P", "search=grid",
                          "-P", "cv=2")
    assert done.returncode == 0, done.stderr[-3000:]
    (parent,) = runs(store, "tune", "FINISHED")
    assert len(children(store, parent.info.run_id)) == 4
    assert "tune: 4/4 trials" in done.stderr
    assert len(runs(store, "train", "FINISHED")) == 1


@pytest.mark.slow  # a local Spark: a JVM and Python workers
def test_trials_on_spark_executors(store):
    pytest.importorskip("pyspark")
    result = tune("tree", space="max_depth=2|3|4|5", search="grid", n_jobs=2,
                  trials_on="local[2]", cv=2)
    trials = children(store, result["run_id"])
    assert sorted(int(r.data.tags["trackfit.trial"]) for r in trials) == [0, 1, 2, 3]
    assert {r.info.status for r in trials} == {"FINISHED"}
    local = tune("tree", space="max_depth=2|3|4|5", search="grid", n_jobs=2, cv=2)
    assert local["best_params"] == result["best_params"]
    assert local["best_metrics"] == result["best_metrics"]
