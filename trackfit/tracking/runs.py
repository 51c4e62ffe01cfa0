"""MLflow plumbing the steps share: step runs, logging, finding training runs."""

import contextlib
from functools import lru_cache

from .. import UsageError, __version__
from ..processes import Stopped
from . import tags as tagnames

TRAIN_FILTER = f"tags.`{tagnames.STEP}` = 'train' and attributes.status = 'FINISHED'"
LOWER_IS_BETTER = ("error", "loss", "_std", "seconds", "latency", "_ms_", "_bytes")
LOWEST = "-1.7976931348623157e308"  # how MLflow stores -inf
HIGHEST = "1.7976931348623157e308"  # and +inf: neither is ever ranked, as NaN is not
# Ranking never defaults to training metrics: the held-out R2.
DEFAULT_METRIC = "test_r2_score"


@lru_cache(maxsize=None)
def client():
    """One tracking client per process."""
    from mlflow import MlflowClient

    return MlflowClient()


@contextlib.contextmanager
def step_run(step, nested=False, run_name=None, parent_run_id=None, run_id=None):
    """A run tagged ``trackfit.step=<step>``; FAILED if the block raises, KILLED on Ctrl-C.

    Under ``mlflow run`` the first step run is the run MLflow made for us. ``parent_run_id``
    nests the run under that run from a thread that has no active run of its own; ``run_id``
    resumes that run (main's refit=best: the best CV run, fitted whole).
    """
    import mlflow

    tags = {tagnames.STEP: step, tagnames.VERSION: __version__}
    with mlflow.start_run(run_id=run_id, nested=nested, run_name=run_name, tags=tags,
                          parent_run_id=parent_run_id) as run:
        try:
            yield run
        except (KeyboardInterrupt, Stopped):  # Ctrl-C, SIGTERM, SIGHUP
            mlflow.end_run("KILLED")
            raise


def log(params=None, metrics=None, tags=None, model_id=None, dataset=None):
    """Params the run does not have yet, metrics and tags in one write to the store.

    ``model_id`` links the metrics to a logged model; ``dataset`` (name, digest) to the
    dataset they were measured on, as the MLflow UI's model pages show them.

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
        metrics=[Metric(k, float(v), now, 0, model_id=model_id,
                        dataset_name=dataset[0] if dataset else None,
                        dataset_digest=dataset[1] if dataset else None)
                 for k, v in (metrics or {}).items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items() if k not in existing],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )


def higher_is_better(metric):
    return not any(word in metric for word in LOWER_IS_BETTER)


def recorded_params(run):
    """The run's params as values: ``mlflow run`` logs each -P value as it quoted it for
    the shell (``''`` for an empty one, ``'my file.csv'``); those are unquoted here."""
    import shlex

    from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENTRY_POINT

    params = dict(run.data.params)
    if MLFLOW_PROJECT_ENTRY_POINT not in run.data.tags:
        return params
    for name, value in params.items():
        try:
            parts = shlex.split(value)
        except ValueError:
            continue
        if len(parts) == 1 and shlex.quote(parts[0]) == value:
            params[name] = parts[0]
    return params


def active_experiment_id():
    import mlflow

    return mlflow.active_run().info.experiment_id


LATENCY = "predict_ms_per_1k_rows"  # its predict's milliseconds per 1,000 rows
SIZE = "model_size_bytes"
# What serving a run's model costs, measured on this machine and in this store (a timing;
# bytes that move with the ids and times inside the model's files): shown, filtered and
# ranked on, never compared for reproducibility.
COSTS = (LATENCY, SIZE)
# The same cost under the name runs logged before it was named for its unit.
FORMER_COSTS = ("predict_latency_ms",)


def check_ranking(metric, max_results=1, max_latency_ms=None):
    """A metric name, a page size and a latency bound the store's search can take: what
    ``training_runs`` is given, checked by its callers before their runs start."""
    import math
    import re

    from .. import TrackfitError

    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", str(metric)):
        raise UsageError(f"metric {metric!r} is not a metric name", fix="pass one like "
                         f"metric={DEFAULT_METRIC} (letters, digits, _ . -)")
    if max_results < 1:
        raise UsageError(f"max_results must be at least 1, got {max_results}")
    if max_latency_ms is not None and not (math.isfinite(max_latency_ms) and max_latency_ms > 0):
        raise UsageError(f"max_latency_ms must be a number of milliseconds above 0, got "
                         f"{max_latency_ms}", fix="leave it empty for no bound")


def training_runs(metric, max_results=1000, experiment_ids=None, max_latency_ms=None):
    """Finished training runs, best first by ``metric``, ties by predict latency (lowest
    first): the server filters, sorts and pages. ``max_latency_ms``: only runs whose model
    predicts 1,000 rows within it (runs logged without a latency are left out).

    The filter also asks for the metric (any value but NaN, and never the infinity that
    would rank first, which a crafted run could log): on
    SQLite that turns MLflow's order-by join from a scan per run (20 s for 10,000 runs)
    into an indexed one (3 s). So the store orders by the metric alone, and ties within the
    page it returns go to the faster model here: a second order-by metric, not in the
    filter, was that scan again.
    """
    import mlflow

    ids = experiment_ids or [active_experiment_id()]
    order = "DESC" if higher_is_better(metric) else "ASC"
    # One bound, on the side the order would rank first: a second one doubles the store's
    # join (compare over 10,000 runs 12.7 s against 5.3 s).
    bound = f"> {LOWEST}" if order == "ASC" else f"< {HIGHEST}"
    where = f"{TRAIN_FILTER} and metrics.`{metric}` {bound}"
    if max_latency_ms is not None:
        where += f" and metrics.`{LATENCY}` <= {float(max_latency_ms)!r}"
    runs = mlflow.search_runs(
        experiment_ids=ids,
        filter_string=where,
        order_by=[f"metrics.`{metric}` {order}"],
        max_results=max_results,
    )
    if not runs.empty:
        if f"metrics.{LATENCY}" in runs.columns and metric != LATENCY:
            runs = runs.sort_values([f"metrics.{metric}", f"metrics.{LATENCY}"],
                                    ascending=[order == "ASC", True], kind="stable",
                                    na_position="last", ignore_index=True)
        return with_logged_models(runs, metric)
    anything = mlflow.search_runs(experiment_ids=ids, filter_string=TRAIN_FILTER, max_results=1)
    if max_latency_ms is not None and not anything.empty:
        raise UsageError(
            f"no training run with metric '{metric}' predicts within max_latency_ms="
            f"{max_latency_ms} (runs logged before trackfit measured {LATENCY} have none)",
            fix="raise max_latency_ms or leave it empty")
    if anything.empty:
        name = client().get_experiment(ids[0]).name
        raise UsageError(
            f"no finished training runs in experiment '{name}'",
            fix="train one first: mlflow run . -e train -P estimator=linear"
        )
    known = sorted(c[len("metrics."):] for c in anything.columns if c.startswith("metrics."))
    raise UsageError(
        f"no training run has metric '{metric}'", fix=f"choose one of: {', '.join(known)}"
    )


DATASET_NAME = "diabetes"  # the name the engines give the dataset a training run logs
IN_CHUNK = 500  # run ids per search_logged_models filter


LAB_SCHEMA = ("Y", "AGE,SEX,BMI,BP,S1,S2,S3,S4,S5,S6", "", "")
# table.target, not target: under `mlflow run` the target param is what -P gave (often "")
SCHEMA_PARAMS = ("params.table.target", "params.table.number", "params.table.category",
                 "params.table.date")


def schema_of(run):
    """A training run's (target, numbers, categories, dates), from its params (a row of
    ``training_runs``); a run from before tables is the lab's."""
    import pandas as pd

    found = [run.get(name) for name in SCHEMA_PARAMS]
    if all(value is None or pd.isna(value) for value in found):
        return LAB_SCHEMA
    return tuple("" if value is None or pd.isna(value) else str(value) for value in found)


def same_table(runs, schema=None):
    """(the runs that share ``schema``, else the first run's target and feature columns;
    how many were left out). Runs of another table hold other rows: ranking them together
    would compare scores on different data."""
    if runs.empty:
        return runs, 0
    keys = runs.apply(schema_of, axis=1)
    wanted = schema or keys.iloc[0]
    kept = runs[keys == wanted].reset_index(drop=True)
    return kept, len(runs) - len(kept)


def with_logged_models(runs, metric):
    """``runs`` with each training run's MLflow 3 logged model: a ``model_id`` column, and
    the metrics the model holds for the run's dataset (what the MLflow UI's model page shows)
    in the run's metric columns. A run logged without one (before MLflow 3) keeps its own.

    The store is asked for the models of these runs that hold ``metric`` on one of their
    datasets (name and digest), a few hundred runs per query.
    """
    import mlflow

    runs = runs.copy()
    runs["model_id"] = None
    digest_column = f"tags.{tagnames.DATA_DIGEST}"
    digests = (sorted(set(runs[digest_column].dropna())) if digest_column in runs.columns
               else [])
    datasets = [{"dataset_name": DATASET_NAME, "dataset_digest": d} for d in digests] or None
    ids = list(runs["run_id"])
    where = {run_id: at for at, run_id in zip(runs.index, ids)}
    experiments = sorted(set(runs["experiment_id"]))
    for start in range(0, len(ids), IN_CHUNK):
        quoted = ", ".join(f"'{i}'" for i in ids[start:start + IN_CHUNK])
        found = mlflow.search_logged_models(
            experiment_ids=experiments, datasets=datasets, output_format="list",
            filter_string=f"source_run_id IN ({quoted}) AND metrics.`{metric}` >= {LOWEST}")
        for model in found:
            at = where.get(model.source_run_id)
            if at is None or runs.at[at, "model_id"] is not None:
                continue
            digest = runs.at[at, digest_column] if digest_column in runs.columns else None
            runs.at[at, "model_id"] = model.model_id
            for m in model.metrics or []:
                if m.dataset_digest in (None, "", digest) and f"metrics.{m.key}" in runs.columns:
                    runs.at[at, f"metrics.{m.key}"] = m.value
    return runs


def logged_model_uri(run):
    """The model URI of a training run (a row of ``training_runs``): its logged model
    (models:/<model_id>), else the one it tagged, else its artifact folder."""
    model_id = run.get("model_id")
    if isinstance(model_id, str) and model_id:
        return f"models:/{model_id}"
    return run.get(f"tags.{tagnames.MODEL_URI}") or f"runs:/{run['run_id']}/model"
