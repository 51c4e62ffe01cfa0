"""register: the best training run by a held-out metric -> a model version, alias champion,
when it passes the promotion gate."""

from ..engines.source import redact
from ..promotion import gate, policy
from ..tracking import registry
from ..tracking.registry import ALIAS, MODEL_NAME
from ..tracking.runs import DEFAULT_METRIC, check_ranking, log, step_run


def register(metric=DEFAULT_METRIC, model_name=MODEL_NAME, alias=ALIAS, threshold=None,
             min_improvement=0.0, min_relative_improvement=0.0, strict=False, exam="",
             nested=False, loaded=None):
    """One register run; returns the version that holds the alias, whether it is new, and
    the gate's verdict. ``threshold`` is the floor, ``min_improvement`` (absolute) and
    ``min_relative_improvement`` what the challenger must gain over the champion;
    ``strict`` makes a refusal an error. ``exam``: the data to pin as the model's exam when
    none is pinned (empty: the pinned one; with none, the challenger's held-out rows).
    ``loaded``: the (frame, dataset, table) main read, for the gate's rows."""
    limits = gate.Thresholds(threshold, min_improvement, min_relative_improvement).check()
    registry.check_names(model_name, alias)
    check_ranking(metric)
    with step_run("register", nested=nested, run_name="register") as run:
        log(params={"metric": metric, "model_name": model_name, "alias": alias,
                    **limits.params(), "strict": strict, "exam": redact(exam)})
        return policy.promote(run, metric, model_name, alias, limits, strict, loaded, exam)
