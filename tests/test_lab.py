"""The lab end to end: runs, metrics, artifacts, registry and predictions users see."""

import mlflow
import pandas as pd
import pytest

from trackfit.entrypoints.compare import compare
from trackfit.entrypoints.main import main
from trackfit.entrypoints.predict import predict
from trackfit.entrypoints.register import register
from trackfit.entrypoints.train import train

from .conftest import EXPERIMENT, runs, versions


def metric(run, name):
    return round(run.data.metrics[name], 4)


def by_estimator(uri):
    return {r.data.params["estimator"]: r for r in runs(uri, "train", "FINISHED")}


def test_main_runs_the_whole_lab_as_nested_runs(store):
    result = main()
    parent = result["load"]["run_id"]
    client = mlflow.MlflowClient()
    parent_id = client.get_run(parent).data.tags["mlflow.parentRunId"]
    assert client.get_run(parent_id).data.tags["trackfit.step"] == "main"
    for step, count in (("load", 1), ("train", 2), ("compare", 1), ("register", 1), ("main", 1)):
        found = runs(store, step, "FINISHED")
        assert len(found) == count, step
        if step != "main":
            assert all(r.data.tags["mlflow.parentRunId"] == parent_id for r in found)
    trained = by_estimator(store)
    assert sorted(trained) == ["linear", "tree"]
    assert metric(trained["linear"], "training_r2_score") == 0.5539
    assert metric(trained["linear"], "test_r2_score") == 0.3929
    assert metric(trained["tree"], "training_r2_score") == 0.7321
    assert trained["tree"].data.params["max_depth"] == "5"
    held_out = mlflow.artifacts.load_dict(
        f"runs:/{trained['linear'].info.run_id}/evaluation.json")
    assert len(held_out["y_true"]) == len(held_out["y_pred"]) == 133  # 30% of 442 rows
    assert len(held_out["cv_folds"]["r2_score"]) == 5
    compare_run = runs(store, "compare")[0]
    artifacts = {a.path for a in client.list_artifacts(compare_run.info.run_id)}
    assert {"leaderboard.csv", "leaderboard.md", "r2_by_estimator.png",
            "mae_by_estimator.png", "rmse_by_estimator.png", "report.html"} <= artifacts
    board = pd.read_csv(mlflow.artifacts.download_artifacts(
        run_id=compare_run.info.run_id, artifact_path="leaderboard.csv"))
    assert list(board["estimator"]) == ["linear", "tree"]
    (version,) = versions(store)
    assert int(version.version) == 1 and version.run_id == trained["linear"].info.run_id
    assert int(client.get_model_version_by_alias("model-diabetes", "champion").version) == 1
    assert version.tags["metric"] == "test_r2_score"


def test_training_run_logs_what_autolog_would(store):
    result = train("tree", params={"max_depth": 3}, cv=3)
    run = mlflow.MlflowClient().get_run(result["run_id"])
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["estimator"] == "tree" and params["max_depth"] == "3"
    assert params["random_state"] == "0" and params["criterion"] == "squared_error"
    for split in ("training", "test"):
        for name in ("r2_score", "mean_absolute_error", "mean_squared_error",
                     "root_mean_squared_error"):
            assert f"{split}_{name}" in metrics
    assert {"cv_r2_score", "cv_r2_score_std", "cv_mean_absolute_error"} <= set(metrics)
    assert tags["trackfit.step"] == "train" and tags["trackfit.plugin"] == "scikit_learn"
    assert tags["estimator_name"] == "DecisionTreeRegressor"
    assert run.inputs.dataset_inputs[0].dataset.digest == tags["trackfit.data_digest"]
    model = mlflow.pyfunc.load_model(tags["trackfit.model_uri"])
    assert model.metadata.signature.inputs.input_names()[:3] == ["AGE", "SEX", "BMI"]
    flavor = model.metadata.flavors["sklearn"]
    assert flavor["serialization_format"] == "skops"


def test_the_labs_notebook_code_works_on_trackfit_runs(store):
    train("linear", cv=0)
    train("tree", cv=0)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    df = mlflow.search_runs(experiment_ids=[experiment.experiment_id],
                            filter_string="tags.`trackfit.step` = 'train'")
    results = df[["params.estimator", "metrics.training_r2_score"]]
    scores = dict(zip(results["params.estimator"], results["metrics.training_r2_score"].round(4)))
    assert scores == {"linear": 0.5539, "tree": 0.7321}


def test_register_ranks_on_held_out_data_and_the_labs_rule_is_one_parameter_away(store):
    linear = train("linear", cv=0)
    tree = train("tree", cv=0)
    first = register()
    assert first == {**first, "version": 1, "created": True, "model_run_id": linear["run_id"]}
    again = register()
    assert again["version"] == 1 and not again["created"]
    # The lab's rule ranks the tree first; the gate scores it on the pinned exam (the rows
    # the lab held out), where it is the worse model: refused, linear stays.
    lab = register(metric="training_r2_score")
    assert not lab["accepted"] and lab["version"] == 1
    assert lab["reason"].startswith("r2_score 0.1066 vs champion 0.3929: not better")
    # With no champion to beat, the lab's rule registers the tree, as the lab did.
    own = register(metric="training_r2_score", model_name="model-lab-rule")
    assert own["version"] == 1 and own["model_run_id"] == tree["run_id"]
    assert register(metric="training_r2_score", model_name="model-lab-rule")["created"] is False
    champion = mlflow.MlflowClient().get_model_version_by_alias("model-diabetes", "champion")
    assert champion.run_id == linear["run_id"]
    back = register()
    assert back["version"] == 1 and not back["created"]
    assert len(versions(store)) == 1


def test_a_rerun_with_equal_numbers_makes_no_new_version(store):
    main(estimators=["linear"], cv=0)
    main(estimators=["linear"], cv=0)
    assert len(runs(store, "train", "FINISHED")) == 2
    assert [int(v.version) for v in versions(store)] == [1]


def test_predict_with_the_champion_writes_one_prediction_per_row(store, tmp_path):
    linear = train("linear", cv=0)
    register()
    out = tmp_path / "predictions.parquet"
    result = predict(output=str(out))
    written = pd.read_parquet(out)
    assert len(written) == 442 and written["prediction"].notna().all()
    model = mlflow.sklearn.load_model(linear["model_uri"])
    features = written[["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]]
    assert written["prediction"].tolist() == pytest.approx(model.predict(features).tolist())
    assert runs(store, "predict")[0].data.tags["trackfit.rows"] == "442"
    assert result["predictions"].shape == (442, 12)


def test_compare_leaderboard_is_best_first_by_the_chosen_metric(store):
    for name in ("dummy", "linear", "tree"):
        train(name, cv=0)
    board = compare()["leaderboard"]
    assert list(board["estimator"]) == ["linear", "tree", "dummy"]
    assert list(compare(max_results=1)["leaderboard"]["estimator"]) == ["linear"]
    board = compare(metric="test_mean_absolute_error")["leaderboard"]
    assert board["test_mean_absolute_error"].is_monotonic_increasing
    assert (board["fit_seconds"] >= 0).all()


def test_a_training_run_other_code_logged_without_an_estimator_is_ranked_and_charted(store):
    """A run tagged as a training run by other code, with a metric and no params: compare
    names it instead of stopping on the gap in its bar charts."""
    train("linear", cv=0)
    client = mlflow.MlflowClient()
    foreign = client.create_run(mlflow.get_experiment_by_name(EXPERIMENT).experiment_id,
                                tags={"trackfit.step": "train"})
    client.log_metric(foreign.info.run_id, "test_r2_score", 0.5)
    client.set_terminated(foreign.info.run_id)
    result = compare()
    assert list(result["leaderboard"]["estimator"]) == ["(no estimator param)", "linear"]
    charts = mlflow.MlflowClient().list_artifacts(result["run_id"])
    assert "r2_by_estimator.png" in [a.path for a in charts]


def test_main_refuses_an_estimator_named_twice_before_training(store):
    from trackfit import EstimatorError

    with pytest.raises(EstimatorError, match=r"^estimators names linear more than once "
                       r"\(linear, scikit_learn:linear\): the same model would be trained "
                       r"twice; pass each estimator once$"):
        main(estimators=["linear", "scikit_learn:linear"], cv=0)
    assert runs(store, "train") == []
