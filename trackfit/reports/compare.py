"""A compare run: a leaderboard of the experiment's training runs, charts and report.html."""

import tempfile

from ..tracking import tags
from ..tracking.runs import DEFAULT_METRIC, check_ranking, log, same_table, schema_of, step_run
from ..tracking.runs import training_runs
from . import html, leaderboard


def compare(metric=DEFAULT_METRIC, max_results=100, max_latency_ms=None, nested=False):
    """One compare run; returns its run id and the leaderboard (a DataFrame, best first).

    The store ranks every finished training run (ties: the faster model first); the
    leaderboard holds the best ``max_results`` of them, only those that predict 1,000 rows
    within ``max_latency_ms`` if given. Each run's metrics are its logged model's. Only runs
    of one table rank together: those sharing the best run's target and feature columns.
    """
    import mlflow
    import pandas as pd

    check_ranking(metric, max_results, max_latency_ms)  # before any run
    with step_run("compare", nested=nested, run_name="compare") as run:
        log(params={"metric": metric, "max_results": max_results,
                    "max_latency_ms": "" if max_latency_ms is None else max_latency_ms})
        runs = training_runs(metric, max_results, max_latency_ms=max_latency_ms)
        runs, left = same_table(runs)
        table = leaderboard.leaderboard(runs, metric)
        with tempfile.TemporaryDirectory() as folder:
            leaderboard.write(table, folder)
            experiment = mlflow.get_experiment(run.info.experiment_id).name
            html.write(table, runs, metric, folder, experiment)
            mlflow.log_artifacts(folder)
        mlflow.set_tags({tags.BEST_RUN_ID: table["run_id"][0],
                         tags.TRAINING_RUNS: len(table)})
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        if left:
            print(f"compare: left out {left} training run(s) of another table: they predict "
                  f"another target or from other columns than the best run's (target "
                  f"{schema_of(runs.iloc[0])[0]}); give each table its own experiment")
        target = schema_of(runs.iloc[0])[0] if len(runs) else "Y"
        print(f"compare: {len(table)} training runs of experiment '{experiment}' ranked by "
              f"{metric}, run {run.info.run_id} (target {target})")
        return {"run_id": run.info.run_id, "leaderboard": table}
