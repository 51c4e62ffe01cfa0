"""main: the whole lab in one process: load, one train per estimator, compare, register."""

from .. import TrackfitError, data as datamod
from ..tracking import log, step_run
from .compare import DEFAULT_METRIC, compare
from .load import load
from .register import ALIAS, MODEL_NAME, register
from .train import resolve, train


def main(estimators=("linear", "tree"), data="diabetes", test_size=0.3, random_state=0, cv=5,
         metric=DEFAULT_METRIC, model_name=MODEL_NAME, alias=ALIAS):
    """Every step as a nested run under one parent; returns each step's result.

    ``estimators`` is a list of names (or plugin:name).
    """
    if isinstance(estimators, str):
        raise TrackfitError(f"estimators is a list of names, e.g. {estimators.split(',')!r}")
    names = list(estimators)
    data = datamod.source(data)
    with step_run("main", run_name="main"):
        if not names:
            raise TrackfitError("estimators is empty; pass e.g. estimators=linear,tree")
        for name in names:  # every name checked before anything is trained
            resolve(name, {}, random_state)
        log(params={"estimators": ",".join(names), "data": data.safe, "metric": metric})
        loaded = load(data, nested=True)
        trained = [
            train(name, {}, data, test_size, random_state, cv, frame=loaded["frame"], nested=True)
            for name in names
        ]
        compared = compare(metric, nested=True)
        registered = register(metric, model_name, alias, nested=True)
        return {"load": loaded, "train": trained, "compare": compared, "register": registered}
