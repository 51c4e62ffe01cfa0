"""Who vouches for a model: the user (``--trust-model``), or the installed plugins.

The environment names, MLflow's deserialisation guard around a block, the one ``Refused``
of this package, and the trusted types and specs the installed plugins declare.
"""

import contextlib
import os
import threading

from .. import ModelRefused


TRUST_ENV = "TRACKFIT_TRUST_MODELS"
# MLflow's own guard: "false" refuses pickle and cloudpickle, and also skops (whose trusted
# types come from the model itself), in every mlflow.<flavor>.load_model.
GUARD_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
FIX = "load only models trackfit logged, or pass --trust-model if you control the store"


def trusted(trust=False):
    """True when the user vouched for every model: --trust-model or TRACKFIT_TRUST_MODELS=1."""
    return bool(trust) or os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes")


@contextlib.contextmanager
def guarded(trust=False):
    """MLflow's deserialisation guard on (refusing) for the block, unless trust was given.

    With trust, TRACKFIT_TRUST_MODELS=1 is set too, so the steps run in the block see it.
    The environment is restored afterwards: the command line may run inside a test or a
    notebook's process.
    """
    if trusted(trust):
        with _environ({TRUST_ENV: "1", GUARD_ENV: "true"}):
            yield
    else:
        with _environ({GUARD_ENV: "false"}):
            yield


class Refused(ModelRefused, ValueError):
    """What is wrong with a model, as the clause of a one-line error (a ValueError too, as
    callers catch it)."""


_lifted = {"count": 0, "before": None}  # how many blocks have the guard lifted, and its value
_lifting = threading.Lock()


@contextlib.contextmanager
def own_model():
    """MLflow's guard lifted for a model trackfit just fitted and is saving (``log_model``
    loads the saved model back to check its input example).

    Counted across threads: ``main`` saves models from several at once, and the guard is
    restored when the last of them is done, never while another is still saving.
    """
    with _lifting:
        if _lifted["count"] == 0:
            _lifted["before"] = os.environ.get(GUARD_ENV)
            os.environ[GUARD_ENV] = "true"
        _lifted["count"] += 1
    try:
        yield
    finally:
        with _lifting:
            _lifted["count"] -= 1
            if _lifted["count"] == 0:
                if _lifted["before"] is None:
                    os.environ.pop(GUARD_ENV, None)
                else:
                    os.environ[GUARD_ENV] = _lifted["before"]


def quiet_downloads():
    """MLflow's "Downloading artifacts" progress bars off for the block."""
    return _environ({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"})


@contextlib.contextmanager
def _environ(values):
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def plugin_specs():
    from ..estimators import plugins

    return plugins.catalogue().specs


def declared_types(flavor):
    """The types skops may load: what the plugins of ``flavor`` declare, and sklearn's own."""
    from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES, SKLEARN_INTERNAL_TYPE_NAMES

    declared = {t for spec in plugin_specs() if spec.flavor == flavor for t in spec.trusted_types}
    return (declared | set(preprocessing_types()) | set(SKLEARN_ESTIMATOR_TYPE_NAMES)
            | set(SKLEARN_INTERNAL_TYPE_NAMES))


def preprocessing_types():
    """The types of the preprocessing before every model's estimator, which trackfit
    trusts for every plugin's models (estimators.builtin.PREPROCESSING)."""
    from ..estimators.builtin import PREPROCESSING

    return PREPROCESSING
