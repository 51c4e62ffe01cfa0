"""register: the best training run by a held-out metric -> a model version, alias champion,
when it passes the promotion gate."""

from ..tracking import registry
from ..tracking.registry import ALIAS, MODEL_NAME
from ..tracking.runs import DEFAULT_METRIC


def register(metric=DEFAULT_METRIC, model_name=MODEL_NAME, alias=ALIAS, threshold=None,
             min_improvement=0.0, min_relative_improvement=0.0, strict=False, exam=""):
    """One register run; returns the version that holds the alias, whether it is new, and
    the gate's verdict. ``exam``: the data to pin as the model's exam when none is pinned
    (empty: the pinned one; with none, the challenger's held-out rows)."""
    return registry.register(metric, model_name, alias, threshold=threshold,
                             min_improvement=min_improvement,
                             min_relative_improvement=min_relative_improvement, strict=strict,
                             exam=exam)
