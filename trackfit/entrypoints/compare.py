"""compare: a leaderboard of the experiment's training runs, with charts and report.html."""

from ..reports import compare as comparing
from ..tracking import tags
from ..tracking.runs import DEFAULT_METRIC, check_ranking, log, step_run


def compare(metric=DEFAULT_METRIC, max_results=100, max_latency_ms=None, nested=False):
    """One compare run; returns its run id and the leaderboard (a DataFrame, best first).

    Ranks every finished training run of the experiment by ``metric`` (ties: the faster
    model first), the best ``max_results`` of them, only those that predict 1,000 rows
    within ``max_latency_ms`` if given; only runs of the best run's table rank together.
    """
    import mlflow
    import pandas as pd

    check_ranking(metric, max_results, max_latency_ms)  # before any run
    with step_run("compare", nested=nested, run_name="compare") as run:
        log(params={"metric": metric, "max_results": max_results,
                    "max_latency_ms": "" if max_latency_ms is None else max_latency_ms})
        runs, left, table = comparing.rank(metric, max_results, max_latency_ms)
        experiment = mlflow.get_experiment(run.info.experiment_id).name
        comparing.log(table, runs, metric, experiment)
        mlflow.set_tags({tags.BEST_RUN_ID: table["run_id"][0],
                         tags.TRAINING_RUNS: len(table)})
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        target = comparing.target(runs)
        if left:
            print(f"compare: left out {left} training run(s) of another table: they predict "
                  f"another target or from other columns than the best run's (target "
                  f"{target}); give each table its own experiment")
        print(f"compare: {len(table)} training runs of experiment '{experiment}' ranked by "
              f"{metric}, run {run.info.run_id} (target {target})")
        return {"run_id": run.info.run_id, "leaderboard": table}
