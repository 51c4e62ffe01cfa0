"""Loading a folder ``checked`` rebuilt: ``load_model`` for scoring, and the pyfunc loader
(``_load_pyfunc``) that its MLmodel names as ``loader_module: trackfit.trust``.
"""

import os

from .loading import digest, load_bytes
from .mlmodel import MODEL_FILES
from .policy import Refused

# The loader_module of the folders trackfit rebuilds: this package, which re-exports
# ``_load_pyfunc``. Folders rebuilt before trust became a package name it too.
LOADER = __package__
# Loaded models of the folders ``checked`` rebuilt, while they exist: loaded once per step.
_loaded = {}
# What the installed plugins approved for each of those models (``load_approved``).
_approvals = {}


def rebuilt_plan(folder):
    """The plan an MLmodel trackfit rebuilt records, or Refused for any other folder."""
    import yaml

    try:
        with open(os.path.join(folder, "MLmodel"), encoding="utf-8") as handle:
            mlmodel = yaml.safe_load(handle)
        conf = mlmodel["flavors"]["python_function"]
        plan = dict(conf["trackfit"])
        keys = {"flavor", "format", "file", "trusted_types", "sha256"}
        ok = (conf["loader_module"] == LOADER and set(plan) == keys
              and conf["data"] == plan["file"] == MODEL_FILES.get(plan["format"])
              and list(mlmodel["flavors"]) == ["python_function"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise Refused(f"{folder} is not a model folder trackfit checked")
    return plan


def remember(folder, model, approval):
    """``folder`` (rebuilt by ``checked``) holds ``model``, which the plugins approved so."""
    _loaded[folder], _approvals[folder] = model, approval


def forget(folder):
    """``folder`` is gone: its model is no longer held."""
    _loaded.pop(folder, None)
    _approvals.pop(folder, None)


def approved(model_uri):
    """(the checked bytes, their plan, what the plugins approved, the loaded model) of a
    folder ``checked`` rebuilt in this process, or None for anything else (trust given):
    what an executor needs to load the very bytes the driver checked."""
    folder = os.path.abspath(model_uri) if os.path.isdir(model_uri) else None
    if folder is None or folder not in _loaded:
        return None
    plan = rebuilt_plan(folder)
    with open(os.path.join(folder, plan["file"]), "rb") as handle:
        data = handle.read()
    if digest(data) != plan["sha256"]:
        raise Refused(f"the model file in {folder} changed after it was checked")
    return data, plan, _approvals[folder], _loaded[folder]


def load_model(model_uri):
    """The model of a folder ``checked`` rebuilt: what ``scoring`` predicts with.

    Loaded again from its file, checked as ``checked`` did, unless this process already
    loaded it. MLflow's flavor loaders are never called: the guard stays on.
    """
    folder = os.path.abspath(model_uri)
    if folder in _loaded:
        return _loaded[folder]
    plan = rebuilt_plan(folder)
    with open(os.path.join(folder, plan["file"]), "rb") as handle:
        data = handle.read()
    if digest(data) != plan["sha256"]:
        raise Refused(f"the model file in {folder} changed after it was checked")
    return load_bytes(data, plan)


class _Pyfunc:
    """What pyfunc and ``mlflow models serve`` call: the checked model's own predict."""

    def __init__(self, model):
        self.model = model

    def predict(self, data, params=None):
        return self.model.predict(data)

    def get_raw_model(self):
        return self.model


def _load_pyfunc(path):
    """pyfunc's hook for the folders trackfit rebuilt (``loader_module: trackfit.trust``)."""
    return _Pyfunc(load_model(os.path.dirname(path) if os.path.isfile(path) else path))
