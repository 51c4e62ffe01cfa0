"""main: the whole lab in one process: load, one train per estimator, compare, register."""

from .. import TrackfitError, data as datamod, plugins
from ..progress import Progress
from ..tracking import higher_is_better, log, step_run
from .compare import DEFAULT_METRIC, compare
from .load import load
from .register import ALIAS, MODEL_NAME, register
from .train import resolve, train


def installed():
    """Every installed estimator, by name; ``plugin:name`` where two plugins share a name."""
    specs = plugins.catalogue().specs
    names = [spec.name for spec in specs]
    return [spec.name if names.count(spec.name) == 1 else spec.qualified_name for spec in specs]


def train_all(names, data, test_size, random_state, cv, frame, metric, n_jobs, spark=""):
    """One nested training run per estimator, ``n_jobs`` at once; progress on stderr."""
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
            results.append(train(name, {}, data, test_size, random_state, cv, frame=frame,
                                 nested=True, spark=spark))
            done(len(results), results[-1])
        return results
    # Threads, each training run nested under the main run by id: MLflow keeps each
    # thread's active run apart, and the fits release the GIL while they work. One OpenMP
    # and BLAS thread each (set in the thread: OpenMP's limit is per thread), or hist-gb's
    # thread team, beside the other trainings, runs ten times slower.
    from threadpoolctl import threadpool_limits

    def one_thread(name):
        with threadpool_limits(1):
            return train(name, {}, data, test_size, random_state, cv, frame=frame,
                         parent_run_id=parent, spark=spark)

    with ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="trackfit-train") as pool:
        futures = {pool.submit(one_thread, name): name for name in names}
        results = {}
        try:
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                done(len(results), results[futures[future]])
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [results[name] for name in names]


def main(estimators=("linear", "tree"), data="diabetes", test_size=0.3, random_state=0, cv=5,
         metric=DEFAULT_METRIC, model_name=MODEL_NAME, alias=ALIAS, n_jobs=1, spark=""):
    """Every step as a nested run under one parent; returns each step's result.

    ``estimators`` is a list of names (or plugin:name); ``["all"]`` is every installed
    estimator. ``n_jobs``: how many to train at once. ``spark``: a Spark master, or empty
    for pandas.
    """
    if isinstance(estimators, str):
        raise TrackfitError(f"estimators is a list of names, e.g. {estimators.split(',')!r}")
    names = installed() if list(estimators) == ["all"] else list(estimators)
    data = datamod.source(data)
    with step_run("main", run_name="main"):
        if not names:
            raise TrackfitError("estimators is empty; pass e.g. estimators=linear,tree or all")
        if n_jobs < 1:
            raise TrackfitError(f"n_jobs must be at least 1, got {n_jobs}")
        for name in names:  # every name checked before anything is trained
            resolve(name, {}, random_state)
        log(params={"estimators": ",".join(estimators), "data": data.safe, "metric": metric,
                    "n_jobs": n_jobs, **({"spark": spark} if spark else {})})
        loaded = load(data, spark=spark, nested=True)
        # with Spark each training run reads again: its dataset logged with from_spark
        trained = train_all(names, data, test_size, random_state, cv,
                            None if spark else loaded["frame"], metric, n_jobs, spark)
        compared = compare(metric, nested=True)
        registered = register(metric, model_name, alias, nested=True)
        return {"load": loaded, "train": trained, "compare": compared, "register": registered}
