"""compare: a leaderboard of the experiment's training runs, with charts and report.html."""

from ..reports import compare as comparing
from ..tracking.runs import DEFAULT_METRIC


def compare(metric=DEFAULT_METRIC, max_results=100, max_latency_ms=None):
    """One compare run; returns its run id and the leaderboard, best first."""
    return comparing.compare(metric, max_results, max_latency_ms)
