"""Trials on Spark, two ways, side by side: trackfit's (joblibspark) and MLflow's MlflowSparkStudy.

    python bench/tune_spark.py TRIALS MASTER      # e.g. 40 local[2]; needs pyspark

The same study either way: tree's default space, TPE seeded 0, 5-fold CV on the lab's
training split, two trials at a time. Prints seconds, trials/s and the runs each left.
"""

import json
import sys
import time


def main(trials, master):
    import mlflow
    from mlflow.optuna.storage import MlflowStorage
    from mlflow.pyspark.optuna.study import MlflowSparkStudy
    from optuna.samplers import TPESampler
    from sklearn.model_selection import train_test_split

    from trackfit.engines import pandas as datamod
    from trackfit.engines.source import parse
    from trackfit.estimators import hyperparams, plugins
    from trackfit.fitting.metrics import cv_scores
    from trackfit.fitting.tuning import TrialLog, search_study
    from trackfit.engines.spark import session

    spark = session(master)
    spark.sparkContext.setLogLevel("ERROR")
    spec = plugins.catalogue().get("tree")
    frame = datamod.load(parse("diabetes"))
    X, _, y, _ = train_test_split(frame[datamod.FEATURES], frame[datamod.TARGET],
                                  test_size=0.3, random_state=0)
    experiment = mlflow.set_experiment("bench-tune-spark").experiment_id
    result = {}

    with mlflow.start_run(run_name="joblibspark") as parent:
        started = time.perf_counter()
        trial_log = TrialLog(parent, "tree")
        search_study(spec, spec.search_space, "tpe", trials, 2, master, X, y, 5,
                     "cv_r2_score", 0, trial_log.record)
        trial_log.close()
        result["joblibspark_seconds"] = time.perf_counter() - started

    def objective(trial):
        params = {"max_depth": trial.suggest_int("max_depth", 2, 12),
                  "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 30),
                  "max_features": trial.suggest_float("max_features", 0.2, 1.0)}
        metrics, _ = cv_scores(hyperparams.build(spec, params, 0), X, y, 5)
        for name, value in metrics.items():  # stored on the trial's run by MlflowStorage
            trial.set_user_attr(name, value)
        return metrics["cv_r2_score"]

    started = time.perf_counter()
    study = MlflowSparkStudy("tree-bench", MlflowStorage(experiment_id=experiment),
                             sampler=TPESampler(seed=0), direction="maximize")
    study.optimize(objective, n_trials=trials, n_jobs=2)
    result["mlflow_spark_study_seconds"] = time.perf_counter() - started
    result["runs"] = len(mlflow.search_runs([experiment], max_results=10_000))
    for name in ("joblibspark", "mlflow_spark_study"):
        result[f"{name}_trials_per_second"] = trials / result[f"{name}_seconds"]
    return result


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), sys.argv[2])))
