"""train: fit one estimator on the lab's split, log params, metrics, model and data."""

import time

from .. import TrackfitError, data as datamod, evaluation, hyperparams, plugins, project
from .. import provenance, store, tags, trust
from ..tracking import log, step_run

SCORERS = {
    "r2_score": "r2",
    "mean_absolute_error": "neg_mean_absolute_error",
    "mean_squared_error": "neg_mean_squared_error",
    "root_mean_squared_error": "neg_root_mean_squared_error",
}


def scores(y_true, y_pred, prefix):
    """The metrics sklearn autolog logs, under ``prefix``."""
    from sklearn import metrics

    mse = metrics.mean_squared_error(y_true, y_pred)
    r2 = metrics.r2_score(y_true, y_pred)
    return {
        f"{prefix}_r2_score": r2,
        f"{prefix}_mean_absolute_error": metrics.mean_absolute_error(y_true, y_pred),
        f"{prefix}_mean_squared_error": mse,
        f"{prefix}_root_mean_squared_error": mse**0.5,
        f"{prefix}_score": r2,
    }


def cv_scores(estimator, X, y, folds, error_score=float("nan")):
    """Mean and standard deviation of each metric over ``folds`` folds of the training split,
    and each fold's values (for evaluation.json).

    The folds are taken by row index from one array (``X.to_numpy()`` of a one-block frame
    is a view): each fold copies its rows once, where folds of a frame copy them twice.
    ``error_score="raise"``: a fold the estimator fails on raises instead of scoring NaN.
    """
    import numpy as np
    from sklearn.model_selection import KFold, cross_validate

    if "copy_X" in estimator.get_params(deep=False):
        estimator = estimator.set_params(copy_X=False)  # each fold's rows are its own copy
    result = cross_validate(estimator, np.asarray(X), y, cv=KFold(folds), scoring=SCORERS,
                            error_score=error_score)
    out, each = {}, {}
    for name, scorer in SCORERS.items():
        values = result[f"test_{name}"] * (-1 if scorer.startswith("neg_") else 1)
        out[f"cv_{name}"] = float(values.mean())
        out[f"cv_{name}_std"] = float(values.std())
        each[name] = values
    return out, each


def rows_of(frame, rows):
    """The feature columns of ``rows`` as a frame of one float64 block: one copy of the rows.

    scikit-learn turns a frame of separate columns into one array again on every fit and
    predict; a frame of one block it reads in place.
    """
    import numpy as np
    import pandas as pd

    block = np.empty((len(rows), len(datamod.FEATURES)), order="F")
    for at, name in enumerate(datamod.FEATURES):
        np.take(frame[name].to_numpy(dtype="float64"), rows, out=block[:, at])
    return pd.DataFrame(block, columns=datamod.FEATURES, copy=False)


def split(frame, test_size, random_state):
    """The rows train_test_split picks, taken once by index: X_train, X_test, y_train, y_test."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    train_rows, test_rows = train_test_split(
        np.arange(len(frame)), test_size=test_size, random_state=random_state
    )
    y = frame[datamod.TARGET].to_numpy()
    return rows_of(frame, train_rows), rows_of(frame, test_rows), y[train_rows], y[test_rows]


def resolve(estimator, params, random_state):
    """The spec and a built, unfitted estimator: every name and value checked."""
    spec = plugins.catalogue().get(estimator)
    return spec, hyperparams.build(spec, params or {}, random_state)


def log_model(spec, model, X, y_pred):
    """Save the model with the flavor the spec names, in skops where the flavor offers it.

    Requirements: what loading the model needs (project.model_requirements), plus what the
    plugin's package requires.
    """
    import importlib
    import inspect

    from mlflow.models import infer_signature

    flavor = importlib.import_module(f"mlflow.{spec.flavor}")
    options = dict(
        name="model",
        signature=infer_signature(X.head(), y_pred[:5]),
        input_example=X.head(5),
        pip_requirements=list(
            dict.fromkeys(project.model_requirements() + plugins.requirements(spec))),
    )
    if "serialization_format" in inspect.signature(flavor.log_model).parameters:
        options.update(
            serialization_format="skops",
            skops_trusted_types=list(spec.trusted_types) or None,
        )
    with trust.own_model():  # log_model loads the model back to check its input example
        return flavor.log_model(model, **options)


def train(estimator="linear", params=None, data="diabetes", test_size=0.3, random_state=0, cv=5,
          frame=None, nested=False, parent_run_id=None, spark=""):
    """One training run; returns its run id, estimator name, metrics and model URI.

    ``params`` is a dict of hyperparameters; ``data`` a source (see data.source); ``frame``
    the already loaded frame of that source, if the caller has it. ``parent_run_id``: nest
    under that run from another thread (``main`` with n_jobs); ``spark`` a Spark master to
    read with (empty: pandas).
    """
    import mlflow
    from sklearn.base import clone

    with step_run("train", nested=nested, run_name=estimator,
                  parent_run_id=parent_run_id) as run:
        if not 0 < test_size < 1:
            raise TrackfitError(f"test_size must be between 0 and 1, got {test_size}")
        if cv == 1 or cv < 0:
            raise TrackfitError(f"cv must be 0 (off) or at least 2 folds, got {cv}")
        params = dict(params or {})
        spec, model = resolve(estimator, params, random_state)
        data = datamod.source(data)
        dataset = None
        if frame is None and spark:  # read and validated by Spark, converted with Arrow
            from .. import spark as sparkmod

            frame, dataset = sparkmod.load(spark, data)
        frame = datamod.load(data) if frame is None else frame
        datamod.check_rows(frame, data, test_size, cv)
        dataset = dataset or datamod.dataset(frame, data)
        store.retry(mlflow.log_input, dataset, context="training")
        digest = dataset.digest
        X_train, X_test, y_train, y_test = split(frame, test_size, random_state)
        del frame, dataset  # the split holds the rows now: no second copy during the fits
        datamod.release()
        started = time.perf_counter()
        try:
            model.fit(X_train, y_train)
        except (ValueError, TypeError) as exc:
            raise hyperparams.rejected(spec, params, exc) from exc
        fit_seconds = time.perf_counter() - started
        train_pred = model.predict(X_train)
        test_pred = model.predict(X_test)
        metrics = {**scores(y_train, train_pred, "training"), **scores(y_test, test_pred, "test")}
        train_pred = train_pred[:5]  # what the signature needs
        folds = {}
        if cv:
            cv_metrics, folds = cv_scores(clone(model), X_train, y_train, cv)
            metrics.update(cv_metrics)
        info = log_model(spec, model, X_train, train_pred)
        evaluation.log(y_test, test_pred, folds)
        # Metrics logged after the model and linked to it: logged before, log_model links
        # them itself by reading back every metric's history. One write for all of it.
        logged = {**model.get_params(deep=False), "estimator": estimator,
                  "test_size": test_size, "random_state": random_state, "cv": cv,
                  "data": data.safe, **({"spark": spark} if spark else {})}
        log(params=logged, metrics=metrics, model_id=info.model_id, tags={
            "estimator_name": type(model).__name__,
            "estimator_class": f"{type(model).__module__}.{type(model).__name__}",
            tags.ESTIMATOR: spec.qualified_name,
            tags.PLUGIN: spec.plugin,
            tags.PLUGIN_VERSION: spec.plugin_version,
            tags.PLUGIN_DISTRIBUTION: spec.distribution,
            tags.DATA_DIGEST: digest,
            tags.FIT_SECONDS: f"{fit_seconds:.4f}",
            tags.MODEL_URI: info.model_uri,
            **provenance.tags(),
        })
        print(
            f"train: {estimator} ({spec.qualified_name}) run {run.info.run_id}: "
            f"training_r2_score {metrics['training_r2_score']:.4f}, "
            f"test_r2_score {metrics['test_r2_score']:.4f}, fit {fit_seconds:.3f}s"
        )
        return {"run_id": run.info.run_id, "estimator": estimator, "metrics": metrics,
                "model_uri": info.model_uri}
