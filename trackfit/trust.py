"""What a model must show before trackfit loads it.

Plugins are code: installing one is trusting it. Models are data: anyone who can write to the
tracking store or the registry can put one there, and loading a pickle runs whatever it says.
So before a model is loaded, trackfit downloads it (nothing is deserialised by downloading),
reads its MLmodel as YAML and loads the model only when:

- its flavor is one an installed plugin registered (``EstimatorSpec.flavor``);
- it is saved in skops, or in the flavor's own non-pickle format (a LightGBM Booster's text
  model), never pickle or cloudpickle;
- the types its MLmodel tells skops to trust are ones the installed plugins declare
  (``EstimatorSpec.trusted_types``) or that skops trusts for scikit-learn itself;
- it names no loader module but its flavor's, brings no code of its own, and no file it
  names leads out of the model's folder (MLflow refuses to download a link that does).

The model is then loaded from the copy that was checked, so what was checked is what runs.
``--trust-model`` or ``TRACKFIT_TRUST_MODELS=1`` skips the check, for a store you control.

A step that loads a model calls ``load(model_uri)``. One that serves it elsewhere calls
``path = check(model_uri, trust)`` and loads ``path`` inside ``own_model()``, or hands it to
``mlflow models serve`` with MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true in that process's
environment: the command line runs with MLflow's guard on (``guarded``).
"""

import contextlib
import os
import tempfile

from . import TrackfitError, first_line

TRUST_ENV = "TRACKFIT_TRUST_MODELS"
# MLflow's own guard: "false" refuses pickle and cloudpickle, and also skops (whose trusted
# types come from the model itself), in every mlflow.<flavor>.load_model.
GUARD_ENV = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
FIX = "load only models trackfit logged, or pass --trust-model if you control the store"
# Keys of the python_function flavor that bring the model's own code or pickles with them.
CODE_KEYS = ("code", "python_model", "model_code_path", "artifacts", "cloudpickle_version")
PATH_KEYS = ("data", "model_path", "pickled_model")
# A LightGBM Booster is saved in LightGBM's own text format, loaded without pickle.
OWN_FORMATS = {("lightgbm", "lightgbm.basic.Booster")}


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


def check(model_uri, trust=False):
    """Refuse ``model_uri`` unless its MLmodel passes; return what to load it from.

    That is a local folder holding the checked copy of the model, or ``model_uri`` itself
    when trust was given. Raises TrackfitError with one line naming what failed and why.
    """
    if trusted(trust):
        return model_uri
    folder = _download(model_uri)
    problem = _problem(folder)
    if problem:
        raise TrackfitError(f"will not load model '{model_uri}': {problem}; {FIX}")
    return folder


def load(model_uri, trust=False):
    """The pyfunc model at ``model_uri``, after ``check``; MLflow's guard lifted for it alone."""
    import mlflow

    source = check(model_uri, trust)
    with own_model():
        return mlflow.pyfunc.load_model(source)


def own_model():
    """MLflow's guard lifted for a model trackfit checked, or just fitted and is saving.

    ``log_model`` loads the saved model back to check its input example.
    """
    return _environ({GUARD_ENV: "true"})


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


def _download(model_uri):
    import mlflow

    destination = tempfile.mkdtemp(prefix="trackfit-model-")
    try:
        with _environ({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}):  # no bars on stderr
            return mlflow.artifacts.download_artifacts(artifact_uri=model_uri,
                                                       dst_path=destination)
    except Exception as exc:
        reason = first_line(exc)
        raise TrackfitError(
            f"cannot fetch model '{model_uri}' ({reason}); pass a models:/ or runs:/ URI "
            "of a model trackfit logged"
        ) from exc


def _problem(folder):
    """What is wrong with the model in ``folder``, or '' if nothing is."""
    import yaml

    path = os.path.join(folder, "MLmodel")
    if not os.path.isfile(path):
        return "it has no MLmodel file, so it is not an MLflow model"
    try:
        with open(path, encoding="utf-8") as handle:
            mlmodel = yaml.safe_load(handle)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return f"its MLmodel is not valid YAML ({type(exc).__name__})"
    flavors = mlmodel.get("flavors") if isinstance(mlmodel, dict) else None
    if not isinstance(flavors, dict) or not all(isinstance(c, dict) for c in flavors.values()):
        return "its MLmodel lists no flavors"
    return (
        _flavor_problem(flavors)
        or _pyfunc_problem(flavors)
        or _format_problem(flavors)
        or _paths_problem(folder, flavors)
    )


def _specs():
    from .estimators import plugins

    return plugins.catalogue().specs


def _flavor_problem(flavors):
    known = sorted({spec.flavor for spec in _specs()})
    own = [name for name in flavors if name != "python_function"]
    if len(own) != 1:
        return (
            f"it has flavor(s) {', '.join(sorted(own)) or 'none'} besides python_function, "
            "expected exactly one"
        )
    if own[0] not in known:
        return (
            f"its flavor '{own[0]}' is not one an installed plugin registered "
            f"({', '.join(known)})"
        )
    return ""


def _pyfunc_problem(flavors):
    flavor = next(name for name in flavors if name != "python_function")
    pyfunc = flavors.get("python_function")
    if pyfunc is None:
        return ""
    loader = pyfunc.get("loader_module")
    if loader != f"mlflow.{flavor}":
        return (
            f"its python_function loader is {loader or 'its own Python code'!r}, "
            f"not mlflow.{flavor}: loading it would run the model's code"
        )
    for conf, where in ((pyfunc, "python_function"), (flavors[flavor], flavor)):
        carried = [key for key in CODE_KEYS if conf.get(key)]
        if carried:
            return f"its {where} flavor brings its own code or pickles ({', '.join(carried)})"
    return ""


def _format_problem(flavors):
    flavor = next(name for name in flavors if name != "python_function")
    conf = flavors[flavor]
    if (flavor, conf.get("model_class")) in OWN_FORMATS:
        return ""
    serialization = conf.get("serialization_format", "cloudpickle")
    if serialization != "skops":
        return (
            f"it is saved as {serialization}, which runs code when loaded; "
            "trackfit loads skops models only"
        )
    declared = _declared_types(flavor)
    listed = conf.get("skops_trusted_types") or []
    if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
        return "its skops_trusted_types is not a list of type names"
    extra = sorted(set(listed) - declared)
    if extra:
        return (
            f"its MLmodel tells skops to trust {', '.join(extra)}, which no installed plugin "
            "declares"
        )
    return ""


def _declared_types(flavor):
    """The types skops may load: what the plugins of ``flavor`` declare, and sklearn's own."""
    from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES, SKLEARN_INTERNAL_TYPE_NAMES

    declared = {t for spec in _specs() if spec.flavor == flavor for t in spec.trusted_types}
    return declared | set(SKLEARN_ESTIMATOR_TYPE_NAMES) | set(SKLEARN_INTERNAL_TYPE_NAMES)


def _inside(folder, path):
    root = os.path.realpath(folder)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _paths_problem(folder, flavors):
    for name, conf in flavors.items():
        for key in PATH_KEYS:
            value = conf.get(key)
            if value is None:
                continue
            if not isinstance(value, str) or os.path.isabs(value) or not _inside(
                folder, os.path.join(folder, value)
            ):
                return f"its {name} flavor's {key} {value!r} leads out of the model's folder"
    return ""
