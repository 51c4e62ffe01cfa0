"""compare: a leaderboard of the experiment's training runs, with charts, logged as artifacts."""

import tempfile

from .. import report, tags
from ..tracking import log, step_run, training_runs

DEFAULT_METRIC = "test_r2_score"


def compare(metric=DEFAULT_METRIC, max_results=100, nested=False):
    """One compare run; returns its run id and the leaderboard (a DataFrame, best first).

    The store ranks every finished training run; the leaderboard holds the best
    ``max_results`` of them.
    """
    import mlflow
    import pandas as pd

    with step_run("compare", nested=nested, run_name="compare") as run:
        log(params={"metric": metric, "max_results": max_results})
        table = report.leaderboard(training_runs(metric, max_results), metric)
        with tempfile.TemporaryDirectory() as folder:
            report.write(table, folder)
            mlflow.log_artifacts(folder)
        mlflow.set_tags({tags.BEST_RUN_ID: table["run_id"][0],
                         tags.TRAINING_RUNS: len(table)})
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        print(f"compare: {len(table)} training runs ranked by {metric}, run {run.info.run_id}")
        return {"run_id": run.info.run_id, "leaderboard": table}
