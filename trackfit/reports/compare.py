"""What compare makes: a leaderboard of the experiment's training runs, charts and
report.html, logged as artifacts of the compare step's run."""

import tempfile

from ..tracking.runs import same_table, schema_of, training_runs
from . import html, leaderboard


def rank(metric, max_results=100, max_latency_ms=None):
    """(the training runs of one table, how many of another table were left out, the
    leaderboard as a DataFrame, best first).

    The store ranks every finished training run (ties: the faster model first); the
    leaderboard holds the best ``max_results`` of them, only those that predict 1,000 rows
    within ``max_latency_ms`` if given. Each run's metrics are its logged model's. Only runs
    of one table rank together: those sharing the best run's target and feature columns.
    """
    runs = training_runs(metric, max_results, max_latency_ms=max_latency_ms)
    runs, left = same_table(runs)
    return runs, left, leaderboard.leaderboard(runs, metric)


def log(table, runs, metric, experiment):
    """The leaderboard, its charts and report.html as artifacts of the active run."""
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        leaderboard.write(table, folder)
        html.write(table, runs, metric, folder, experiment)
        mlflow.log_artifacts(folder)


def target(runs):
    """The target the ranked ``runs`` predict (the lab's Y when there are none)."""
    return schema_of(runs.iloc[0])[0] if len(runs) else "Y"
