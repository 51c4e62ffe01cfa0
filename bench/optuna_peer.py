"""The peer of figure 9: an Optuna study tracked the way an Optuna user tracks one.

    python bench/optuna_peer.py TRIALS N_JOBS

optuna-integration's ``MLflowCallback`` makes each trial a run in MLflow's default store
(``MLFLOW_TRACKING_URI`` if set), then the best params are refitted on the training rows
and logged with ``mlflow.sklearn.log_model``, as its documentation shows. The same study
as ``trackfit tune --estimator tree``: the lab's 70/30 split at random_state 0, the tree's
default space (trackfit/estimators/builtin.py), Optuna's TPE sampler seeded 0, 5-fold CV
(KFold, unshuffled) scored with the same four metrics, the estimator seeded 0.
"""

import os
import sys
import warnings

warnings.simplefilter("ignore")

import mlflow  # noqa: E402
import optuna  # noqa: E402
from optuna_integration.mlflow import MLflowCallback  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.model_selection import KFold, cross_validate, train_test_split  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

SCORING = {"r2_score": "r2", "mean_absolute_error": "neg_mean_absolute_error",
           "mean_squared_error": "neg_mean_squared_error",
           "root_mean_squared_error": "neg_root_mean_squared_error"}


def main(trials, n_jobs):
    X, y = load_diabetes(return_X_y=True, as_frame=True, scaled=False)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.3, random_state=0)
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME", "experiment-diabetes")
    tracking = MLflowCallback(metric_name="cv_r2_score", create_experiment=False)
    mlflow.set_experiment(experiment)

    def params(trial):
        return {"max_depth": trial.suggest_int("max_depth", 2, 12),
                "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 30),
                "max_features": trial.suggest_float("max_features", 0.2, 1.0)}

    def objective(trial):
        model = DecisionTreeRegressor(random_state=0, **params(trial))
        scores = cross_validate(model, X_train, y_train, cv=KFold(5), scoring=SCORING)
        return float(scores["test_r2_score"].mean())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=trials, n_jobs=n_jobs, callbacks=[tracking])
    with mlflow.start_run(run_name="best"):
        best = DecisionTreeRegressor(random_state=0, **study.best_params).fit(X_train, y_train)
        mlflow.log_params(study.best_params)
        mlflow.log_metric("cv_r2_score", study.best_value)
        # MLflow 3 saves sklearn models with skops and asks for the tree's type by name.
        mlflow.sklearn.log_model(best, name="model", input_example=X_train.head(5),
                                 skops_trusted_types=["sklearn.tree._tree.Tree"])
    print(f"optuna: {len(study.trials)} trials, best cv_r2_score {study.best_value:.4f} "
          f"({study.best_params})")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
