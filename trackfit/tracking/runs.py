"""MLflow plumbing the steps share: step runs, logging, finding training runs."""

import contextlib
from functools import lru_cache

from .. import StoreError, __version__
from . import tags as tagnames

TRAIN_FILTER = f"tags.`{tagnames.STEP}` = 'train' and attributes.status = 'FINISHED'"
LOWER_IS_BETTER = ("error", "loss", "_std", "seconds")
LOWEST = "-1.7976931348623157e308"  # how MLflow stores -inf
# Ranking never defaults to training metrics: the held-out R2.
DEFAULT_METRIC = "test_r2_score"


@lru_cache(maxsize=None)
def client():
    """One tracking client per process."""
    from mlflow import MlflowClient

    return MlflowClient()


@contextlib.contextmanager
def step_run(step, nested=False, run_name=None, parent_run_id=None):
    """A run tagged ``trackfit.step=<step>``; FAILED if the block raises, KILLED on Ctrl-C.

    Under ``mlflow run`` the first step run is the run MLflow made for us. ``parent_run_id``
    nests the run under that run from a thread that has no active run of its own.
    """
    import mlflow

    tags = {tagnames.STEP: step, tagnames.VERSION: __version__}
    with mlflow.start_run(nested=nested, run_name=run_name, tags=tags,
                          parent_run_id=parent_run_id) as run:
        try:
            yield run
        except KeyboardInterrupt:
            mlflow.end_run("KILLED")
            raise


def log(params=None, metrics=None, tags=None, model_id=None):
    """Params the run does not have yet, metrics and tags in one write to the store.

    Params already there are skipped: ``mlflow run`` logs the -P ones itself.

    Each write is a transaction the store commits to disk: the lab's runs used to make
    three or four of these where one does.
    """
    import time

    import mlflow
    from mlflow.entities import Metric, Param, RunTag

    run = mlflow.active_run()
    existing = run.data.params
    now = int(time.time() * 1000)
    client().log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), now, 0, model_id=model_id)
                 for k, v in (metrics or {}).items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items() if k not in existing],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )


def higher_is_better(metric):
    return not any(word in metric for word in LOWER_IS_BETTER)


def active_experiment_id():
    import mlflow

    return mlflow.active_run().info.experiment_id


def training_runs(metric, max_results=1000, experiment_ids=None):
    """Finished training runs, best first by ``metric``: the server filters, sorts and pages.

    The filter also asks for the metric (any value but NaN, which is never ranked): on
    SQLite that turns MLflow's order-by join from a scan per run (20 s for 10,000 runs)
    into an indexed one (3 s).
    """
    import mlflow

    ids = experiment_ids or [active_experiment_id()]
    order = "DESC" if higher_is_better(metric) else "ASC"
    runs = mlflow.search_runs(
        experiment_ids=ids,
        filter_string=f"{TRAIN_FILTER} and metrics.`{metric}` >= {LOWEST}",
        order_by=[f"metrics.`{metric}` {order}"],
        max_results=max_results,
    )
    if not runs.empty:
        return runs
    anything = mlflow.search_runs(experiment_ids=ids, filter_string=TRAIN_FILTER, max_results=1)
    if anything.empty:
        name = client().get_experiment(ids[0]).name
        raise StoreError(
            f"no finished training runs in experiment '{name}'; "
            "train one first: mlflow run . -e train -P estimator=linear"
        )
    known = sorted(c[len("metrics."):] for c in anything.columns if c.startswith("metrics."))
    raise StoreError(
        f"no training run has metric '{metric}'; choose one of: {', '.join(known)}"
    )
