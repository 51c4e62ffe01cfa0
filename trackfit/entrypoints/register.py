"""register: the best training run by a held-out metric -> a model version, alias champion."""

from ..tracking import registry
from ..tracking.registry import ALIAS, MODEL_NAME
from ..tracking.runs import DEFAULT_METRIC


def register(metric=DEFAULT_METRIC, model_name=MODEL_NAME, alias=ALIAS):
    """One register run; returns the version that holds the alias and whether it is new."""
    return registry.register(metric, model_name, alias)
