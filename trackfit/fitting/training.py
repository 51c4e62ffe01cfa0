"""Training: fit one estimator on the lab's split and log params, metrics, model and data in
the train step's run; several at once for main."""

import contextlib
import time

from .. import EstimatorError
from ..engines import checks
from ..engines.pandas import release
from ..engines.table import SCHEMA, schema_text
from ..engines.source import Ask
from ..estimators import hyperparams, plugins
from ..reports import evaluation
from ..tracking import provenance, store, tags
from ..tracking.runs import DATASET_NAME, LATENCY, SIZE, higher_is_better, log
from .metrics import cv_gathered, cv_means, cv_started, scores
from .models import log_model
from .pipeline import build
from .progress import Progress
from .split import split


def resolve(estimator, params, random_state):
    """The spec and a built, unfitted estimator: every name and value checked."""
    spec = plugins.catalogue().get(estimator)
    return spec, hyperparams.build(spec, params or {}, random_state)


def train(estimator, params, src, how, engine, loaded=None, submit=None, stage="all",
          folds=None):
    """Fit one estimator and log it in the active run (the train step's); returns the
    estimator's name and qualified name, its metrics, fit seconds, model URI and CV folds'
    scores.

    ``params``: a dict of hyperparameters; ``src``: a Source; ``how``: the Split;
    ``engine`` reads ``src`` unless ``loaded`` is the (frame, dataset, table) the caller
    already read; ``submit``: the workers the CV folds run on (:func:`fit`). ``stage``:
    "all", the CV folds and the fit on the whole training split, scored and logged as a
    model; "cv", the folds alone (no model, tagged ``trackfit.refit=skipped``); "final",
    the rest of a "cv" run resumed, its ``folds`` the scores that run returned.
    """
    import mlflow

    how.check()
    params = dict(params or {})
    spec, model = resolve(estimator, params, how.random_state)
    frame, dataset, table = loaded or engine.load(src)
    checks.check_rows(frame, src, how.test_size, how.cv, table.target)
    if stage != "final":
        store.retry(mlflow.log_input, dataset, context="training")
    digest = dataset.digest
    X_train, X_test, y_train, y_test = split(frame, how, table)
    del frame, dataset, loaded  # the split holds the rows now: no second copy in the fits
    release()
    logged = {**model.get_params(deep=False), "estimator": estimator, **how.params(),
              "data": src.safe, **engine.params(), **asked(src, table), **table.params()}
    result = {"estimator": estimator, "qualified_name": spec.qualified_name}
    if stage == "cv":
        metrics, folds = cv_only(spec, model, params, table, X_train, y_train, how.cv,
                                 submit)
        mlflow.log_text(schema_text(table), SCHEMA)
        evaluation.log([], [], folds)  # the folds' scores, for compare's report
        log(params=logged, metrics=metrics, dataset=(DATASET_NAME, digest),
            tags={**run_tags(spec, model, digest), tags.REFIT: "skipped"})
        return {**result, "metrics": metrics, "fit_seconds": None, "model_uri": None,
                "folds": folds}
    fitted, metrics, scored, (train_head, test_pred), fit_seconds = fit(
        spec, model, params, table, X_train, X_test, y_train, y_test,
        how.cv if stage == "all" else 0, submit)
    if stage == "final":  # the CV run's metrics again, now linked to the model
        metrics.update(cv_means(folds))
    else:
        folds = scored
    info = log_model(spec, fitted, X_train, train_head, table)
    metrics.update(cost(fitted, X_test, info))
    evaluation.log(y_test, test_pred, folds)
    mlflow.log_text(schema_text(table), SCHEMA)
    # Metrics logged after the model and linked to it: logged before, log_model links
    # them itself by reading back every metric's history. One write for all of it.
    run_tagged = run_tags(spec, model, digest, fit_seconds, info)
    if stage == "final":
        run_tagged[tags.REFIT] = "best"
    log(params=logged, metrics=metrics, model_id=info.model_id,
        dataset=(DATASET_NAME, digest), tags=run_tagged)
    return {**result, "metrics": metrics, "fit_seconds": fit_seconds,
            "model_uri": info.model_uri, "folds": folds}


def cv_only(spec, model, params, table, X_train, y_train, folds, submit=None):
    """The CV metrics and each fold's scores of the pipeline around ``model``, nothing
    fitted on the whole training split; a fit every fold refuses is the plugin's error."""
    from sklearn.base import clone

    pipeline = build(table, spec, model, X_train)
    try:
        return cv_gathered(cv_started(clone(pipeline), X_train, y_train, folds,
                                      submit=submit), folds)
    except (ValueError, TypeError) as exc:
        raise hyperparams.rejected(spec, params, exc) from exc


def fit(spec, model, params, table, X_train, X_test, y_train, y_test, folds, submit=None):
    """The pipeline of ``table`` around ``model``, fitted; (fitted, training and held-out
    metrics with CV ones when ``folds``, each fold's scores, (the first 5 training
    predictions, the held-out predictions), fit seconds).

    ``submit`` (main's shared workers): the CV folds go to them before the final fit starts
    here, so an estimator left alone at the end still keeps every core busy; the same
    numbers as one after the other (each fold is its own clone of the same parameters).
    """
    from sklearn.base import clone

    fitted = build(table, spec, model, X_train)  # the lab's: the estimator itself
    started_folds = None
    if folds and submit is not None:
        started_folds = cv_started(clone(fitted), X_train, y_train, folds, submit=submit)
    started = time.perf_counter()
    try:
        fitted.fit(X_train, y_train)
    except (ValueError, TypeError) as exc:
        for future in started_folds or ():
            future.cancel()
        raise hyperparams.rejected(spec, params, exc) from exc
    fit_seconds = time.perf_counter() - started
    train_pred = fitted.predict(X_train)
    test_pred = fitted.predict(X_test)
    metrics = {**scores(y_train, train_pred, "training"), **scores(y_test, test_pred, "test")}
    scored = {}
    if folds:
        cv_metrics, scored = cv_gathered(
            started_folds or cv_started(clone(fitted), X_train, y_train, folds), folds)
        metrics.update(cv_metrics)
    return fitted, metrics, scored, (train_pred[:5], test_pred), fit_seconds


def run_tags(spec, model, digest, fit_seconds=None, info=None):
    """The tags of a training run: what was fitted, from which plugin, on which data (and,
    once fitted whole, in how long and where its model is)."""
    fitted = {} if info is None else {tags.FIT_SECONDS: f"{fit_seconds:.4f}",
                                      tags.MODEL_URI: info.model_uri}
    return {
        "estimator_name": type(model).__name__,
        "estimator_class": f"{type(model).__module__}.{type(model).__name__}",
        tags.ESTIMATOR: spec.qualified_name,
        tags.PLUGIN: spec.plugin,
        tags.PLUGIN_VERSION: spec.plugin_version,
        tags.PLUGIN_DISTRIBUTION: spec.distribution,
        tags.DATA_DIGEST: digest,
        **fitted,
        **provenance.tags(),
    }


def summary(result, run_id):
    """The train step's line for ``result`` (as :func:`train` returns it) in run ``run_id``."""
    metrics = result["metrics"]
    if result["model_uri"] is None:  # a CV-only run
        return (f"train: {result['estimator']} ({result['qualified_name']}) run {run_id}: "
                f"cv_r2_score {metrics['cv_r2_score']:.4f} (refit=best: fitted whole only "
                "if best)")
    return (f"train: {result['estimator']} ({result['qualified_name']}) run {run_id}: "
            f"training_r2_score {metrics['training_r2_score']:.4f}, "
            f"test_r2_score {metrics['test_r2_score']:.4f}, fit {result['fit_seconds']:.3f}s")


def asked(src, table):
    """The run params of what the user said of the table: the target as resolved."""
    ask = src.ask or Ask()
    if table.lab:
        return {"target": table.target}
    return {**{k: v for k, v in ask.params().items() if v}, "target": table.target}


LATENCY_ROWS = 1000
LATENCY_REPEATS = 5
LATENCY_SAMPLE = 1000  # held-out rows the timing predicts on, at most


def cost(model, X_test, info):
    """What the model costs to serve: ``predict_ms_per_1k_rows``, the median of 5 timings
    of its predict on the held-out rows (the first 1,000 of them, the metric's own unit: a
    batch as large as a request's, never minutes of timing on a large table), in
    milliseconds per 1,000 rows;
    ``model_size_bytes``, its folder on disk as logged (the model's files, MLmodel,
    environment and input example)."""
    import statistics

    rows = X_test[:LATENCY_SAMPLE]
    timings = []
    for _ in range(LATENCY_REPEATS):
        started = time.perf_counter()
        model.predict(rows)
        timings.append(time.perf_counter() - started)
    latency = statistics.median(timings) * 1000 * LATENCY_ROWS / max(len(rows), 1)
    return {LATENCY: latency, SIZE: model_size(info)}


def model_size(info):
    """The bytes of the logged model's files, as the artifact store lists them."""
    from ..tracking.runs import client

    def walk(path):
        total = 0
        for item in client().list_logged_model_artifacts(info.model_id, path):
            total += walk(item.path) if item.is_dir else (item.file_size or 0)
        return total

    return walk(None)


def installed():
    """Every installed estimator, by name; ``plugin:name`` where two plugins share a name."""
    specs = plugins.catalogue().specs
    names = [spec.name for spec in specs]
    return [spec.name if names.count(spec.name) == 1 else spec.qualified_name for spec in specs]


def best_of(results, metric):
    """The index of the best of ``results`` (as :func:`train` returns them) by ``metric``;
    NaN never best."""
    import math

    scored = [(at, result["metrics"].get(metric)) for at, result in enumerate(results)]
    scored = [(at, value) for at, value in scored if value is not None and not math.isnan(value)]
    if not scored:
        raise EstimatorError(f"no estimator has a finite {metric}: every CV fold failed",
                             fix="pass estimators that fit this table")
    sign = 1 if higher_is_better(metric) else -1
    return max(scored, key=lambda pair: (sign * pair[1], -pair[0]))[0]


@contextlib.contextmanager
def workers_for_one(n_jobs):
    """``n_jobs`` workers for one estimator fitted alone (main's refit=best): joblib's
    default for estimators that leave ``n_jobs`` unset (forests, k-NN), OpenMP's and BLAS's
    threads for the rest. Their numbers do not depend on how many."""
    from joblib import parallel_config
    from threadpoolctl import threadpool_limits

    with parallel_config(n_jobs=n_jobs, prefer="threads"), threadpool_limits(n_jobs):
        yield


def train_all(names, one, metric, n_jobs):
    """Each of ``names`` trained by ``one`` (the train step's function: ``one(name)`` opens
    a nested run, ``one(name, parent_run_id, submit)`` one nested under that run from
    another thread, its CV folds handed to ``submit``), ``n_jobs`` at once; progress on
    stderr. Returns their results in order."""
    import mlflow
    from concurrent.futures import ThreadPoolExecutor, as_completed

    parent = mlflow.active_run().info.run_id
    progress = Progress("main", len(names), "estimators trained")
    best = None

    def done(count, result):
        nonlocal best
        value = result["metrics"].get(metric)
        if value is not None and (best is None or (value > best[0]) == higher_is_better(metric)):
            best = (value, result["estimator"])
        progress.update(count, "" if best is None else f"{metric} {best[0]:.4f} ({best[1]})")

    if n_jobs == 1:
        results = []
        for name in names:
            results.append(one(name))
            done(len(results), results[-1])
        return results
    # Threads, each training run nested under the main run by id: MLflow keeps each
    # thread's active run apart, and the fits release the GIL while they work. One OpenMP
    # and BLAS thread each (set in the thread: OpenMP's limit is per thread), or hist-gb's
    # thread team, beside the other trainings, runs ten times slower. The CV folds of all
    # of them share n_jobs more threads, first come first served: when one estimator is
    # left (two forests dominate a large table), its folds still run n_jobs at once.
    from threadpoolctl import threadpool_limits

    def one_thread(name):
        with threadpool_limits(1):
            return one(name, parent, folds.submit)

    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="trackfit-fold",
                            initializer=threadpool_limits, initargs=(1,)) as folds, \
            ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="trackfit-train") as pool:
        futures = {pool.submit(one_thread, name): name for name in names}
        results = {}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                done(len(results), results[futures[future]])
        except BaseException:
            folds.shutdown(wait=False, cancel_futures=True)
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[name] for name in names]
