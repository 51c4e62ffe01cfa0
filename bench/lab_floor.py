"""The floor of figure 2: trackfit main's logging done by hand with plain MLflow calls.

Same runs (a main parent; load, one train per estimator, compare and register nested),
same params, metrics, tags, dataset inputs, artifacts, skops models with the pinned
requirements, signature and input example, the same registered version and alias.
Written for speed: one log_batch per run, metrics linked to the logged model directly,
nothing read back that is already known. trackfit is measured against this.
"""

import os
import tempfile
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import mlflow  # noqa: E402
import mlflow.data  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from sklearn import metrics as skm  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.model_selection import KFold, cross_validate, train_test_split  # noqa: E402
from sklearn.tree import DecisionTreeRegressor  # noqa: E402

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEATURES = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]
SOURCE = "sklearn.datasets.load_diabetes(scaled=False)"
SCORERS = {"r2_score": "r2", "mean_absolute_error": "neg_mean_absolute_error",
           "mean_squared_error": "neg_mean_squared_error",
           "root_mean_squared_error": "neg_root_mean_squared_error"}
ESTIMATORS = {"linear": (LinearRegression, {}, []),
              "tree": (DecisionTreeRegressor, {"max_depth": 5}, ["sklearn.tree._tree.Tree"])}

client = MlflowClient()
with open(os.path.join(PROJECT, "conda.yaml")) as f:
    PINS = [d for d in yaml.safe_load(f)["dependencies"] if isinstance(d, dict)][0]["pip"]


def batch(run_id, params=None, metrics=None, tags=None, model_id=None):
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
        metrics=[Metric(k, float(v), now, 0, model_id=model_id) for k, v in (metrics or {}).items()],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )


def step(name, run_name):
    return mlflow.start_run(run_name=run_name, nested=mlflow.active_run() is not None,
                            tags={"trackfit.step": name, "trackfit.version": "0.1.0"})


def scores(y_true, y_pred, prefix):
    mse = skm.mean_squared_error(y_true, y_pred)
    r2 = skm.r2_score(y_true, y_pred)
    return {f"{prefix}_r2_score": r2,
            f"{prefix}_mean_absolute_error": skm.mean_absolute_error(y_true, y_pred),
            f"{prefix}_mean_squared_error": mse, f"{prefix}_root_mean_squared_error": mse**0.5,
            f"{prefix}_score": r2}


def chart(table, metric, title, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    bars = ax.bar(table["estimator"], table[metric])
    ax.bar_label(bars, fmt="%.4f")
    ax.set_title(title)
    ax.set_xlabel("Estimator")
    ax.set_ylabel(metric)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "experiment-diabetes"))
with step("main", "main") as main:
    batch(main.info.run_id, params={"estimators": "linear,tree", "data": "diabetes",
                                    "metric": "test_r2_score"})
    frame = load_diabetes(scaled=False, as_frame=True).frame.astype("float64")
    frame.columns = FEATURES + ["Y"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(frame, source=SOURCE, targets="Y", name="diabetes")

    with step("load", "load") as run, tempfile.TemporaryDirectory() as folder:
        mlflow.log_input(dataset, context="source")
        batch(run.info.run_id, params={"data": "diabetes"},
              tags={"trackfit.data_digest": dataset.digest, "trackfit.rows": len(frame)})
        frame.to_parquet(os.path.join(folder, "diabetes.parquet"), index=False)
        client.log_artifact(run.info.run_id, os.path.join(folder, "diabetes.parquet"), "data")

    X_train, X_test, y_train, y_test = train_test_split(
        frame[FEATURES], frame["Y"], test_size=0.3, random_state=0)
    rows = []
    for name, (cls, defaults, trusted) in ESTIMATORS.items():
        with step("train", name) as run:
            model = cls(**defaults)
            if "random_state" in model.get_params():
                model.set_params(random_state=0)
            started = time.perf_counter()
            model.fit(X_train, y_train)
            fit_seconds = time.perf_counter() - started
            train_pred = model.predict(X_train)
            values = {**scores(y_train, train_pred, "training"),
                      **scores(y_test, model.predict(X_test), "test")}
            cv = cross_validate(clone(model), X_train, y_train, cv=KFold(5), scoring=SCORERS)
            for key, scorer in SCORERS.items():
                v = cv[f"test_{key}"] * (-1 if scorer.startswith("neg_") else 1)
                values[f"cv_{key}"], values[f"cv_{key}_std"] = v.mean(), v.std()
            mlflow.log_input(dataset, context="training")
            info = mlflow.sklearn.log_model(
                model, name="model", signature=infer_signature(X_train.head(), train_pred[:5]),
                input_example=X_train.head(5), pip_requirements=PINS,
                serialization_format="skops", skops_trusted_types=trusted or None)
            batch(run.info.run_id,
                  params={**model.get_params(deep=False), "estimator": name, "test_size": 0.3,
                          "random_state": 0, "cv": 5, "data": "diabetes"},
                  metrics=values, model_id=info.model_id,
                  tags={"estimator_name": cls.__name__,
                        "estimator_class": f"{cls.__module__}.{cls.__name__}",
                        "trackfit.estimator": f"scikit_learn:{name}",
                        "trackfit.plugin": "scikit_learn", "trackfit.plugin_version": "",
                        "trackfit.plugin_distribution": "",
                        "trackfit.data_digest": dataset.digest,
                        "trackfit.fit_seconds": f"{fit_seconds:.4f}",
                        "trackfit.model_uri": info.model_uri})
            rows.append({"estimator": name, **values, "fit_seconds": fit_seconds,
                         "run_id": run.info.run_id, "model_uri": info.model_uri})

    table = pd.DataFrame(rows).sort_values("test_r2_score", ascending=False)
    with step("compare", "compare") as run, tempfile.TemporaryDirectory() as folder:
        table.to_csv(os.path.join(folder, "leaderboard.csv"), index=False)
        with open(os.path.join(folder, "leaderboard.md"), "w") as out:
            out.write(table.to_string(index=False))
        for file, metric, title in (
                ("r2_by_estimator.png", "test_r2_score", "R2 score by Estimator"),
                ("mae_by_estimator.png", "test_mean_absolute_error",
                 "Mean absolute error by Estimator"),
                ("rmse_by_estimator.png", "test_root_mean_squared_error", "RMSE by Estimator")):
            chart(table, metric, title, os.path.join(folder, file))
        client.log_artifacts(run.info.run_id, folder)
        best = table.iloc[0]
        batch(run.info.run_id, params={"metric": "test_r2_score", "max_results": 100},
              tags={"trackfit.best_run_id": best.run_id, "trackfit.training_runs": len(table)})
        print(table.to_string(index=False))

    with step("register", "register") as run:
        version = client.create_registered_model("model-diabetes") and client.create_model_version(
            "model-diabetes", best.model_uri, run_id=best.run_id,
            tags={"run_id": best.run_id, "metric": "test_r2_score",
                  "value": repr(best.test_r2_score), "estimator": best.estimator})
        client.set_registered_model_alias("model-diabetes", "champion", version.version)
        batch(run.info.run_id,
              params={"metric": "test_r2_score", "model_name": "model-diabetes",
                      "alias": "champion"},
              tags={"trackfit.model_name": "model-diabetes",
                    "trackfit.model_version": version.version,
                    "trackfit.registered_run_id": best.run_id})
        print(f"registered version {version.version} of model-diabetes")
