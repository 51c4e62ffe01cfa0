"""What a model's MLmodel and folder may say: its flavor, loader, format, paths, keys,
signature and model file; and the plan of what to load that a checked MLmodel gives.
"""

import os

from .policy import Refused, declared_types, plugin_specs

# Keys of the python_function flavor that bring the model's own code or pickles with them.
CODE_KEYS = ("code", "python_model", "model_code_path", "artifacts", "cloudpickle_version")
PATH_KEYS = ("data", "model_path", "pickled_model")
# A LightGBM Booster is saved in LightGBM's own text format, loaded without pickle.
OWN_FORMATS = {("lightgbm", "lightgbm.basic.Booster")}
# The one file each format's model is: what mlflow.<flavor>.save_model writes.
MODEL_FILES = {"skops": "model.skops", "lightgbm.basic.Booster": "model.lgb"}
# What an MLmodel may say, besides a flavor's "<library>_version": anything else is refused.
PYFUNC_KNOWN = {"loader_module", "data", "model_path", "env", "python_version", "predict_fn",
                "code"}
FLAVOR_KNOWN = {"pickled_model", "data", "model_path", "serialization_format",
                "skops_trusted_types", "model_class", "code"}
EXAMPLE = "serving_input_example.json"  # the input example a model folder may hold


def problem(folder):
    """What is wrong with the model in ``folder``, or '' if nothing is."""
    import yaml

    path = os.path.join(folder, "MLmodel")
    if not os.path.isfile(path):
        return "it has no MLmodel file, so it is not an MLflow model"
    try:
        with open(path, encoding="utf-8") as handle:
            mlmodel = yaml.safe_load(handle)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        return f"its MLmodel is not valid YAML ({type(exc).__name__})"
    flavors = mlmodel.get("flavors") if isinstance(mlmodel, dict) else None
    if not isinstance(flavors, dict) or not all(isinstance(c, dict) for c in flavors.values()):
        return "its MLmodel lists no flavors"
    return (
        _signature_problem(mlmodel)
        or _flavor_problem(flavors)
        or _pyfunc_problem(flavors)
        or _format_problem(flavors)
        or _paths_problem(folder, flavors)
        or _tree_problem(folder)
        or _keys_problem(flavors)
        or _file_problem(folder, flavors)
    )


def signature_inputs(signature):
    """The input columns a model's signature names, or None without a signature; Refused
    unless they are named columns, each named once."""
    from mlflow.models import ModelSignature

    if signature is None:
        return None
    if not isinstance(signature, ModelSignature) or signature.inputs is None:
        raise Refused("its signature is not an MLflow signature with inputs")
    names = [getattr(spec, "name", None) for spec in signature.inputs.inputs]
    if not names or not all(isinstance(name, str) and name for name in names):
        raise Refused("its signature's inputs are not named columns")
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice:
        raise Refused(f"its signature names the column '{twice}' twice")
    return names


def signature_columns(mlmodel):
    """``signature_inputs`` of an MLmodel's signature as the file holds it (a dict)."""
    from mlflow.models import ModelSignature

    signature = mlmodel.get("signature")
    if isinstance(signature, dict):
        signature = ModelSignature.from_dict(signature)
    return signature_inputs(signature)


def _signature_problem(mlmodel):
    try:
        signature_columns(mlmodel)
    except Refused as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a crafted signature: nested, mistyped, broken
        return f"its signature cannot be read ({type(exc).__name__})"
    return ""


def _flavor_problem(flavors):
    known = sorted({spec.flavor for spec in plugin_specs()})
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
    declared = declared_types(flavor)
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


def _tree_problem(folder):
    """One MLmodel in the whole folder, and no link: what MLflow reads is what was read."""
    root = os.path.realpath(folder)
    for where, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(where, name)
            shown = os.path.relpath(path, root)
            if os.path.islink(path):
                return f"it holds a link ({shown}), which a model trackfit logged never does"
            if name == "MLmodel" and shown != "MLmodel":
                return (f"it holds a second MLmodel ({shown}), which MLflow would load instead "
                        "of the one checked; a model folder has one MLmodel")
    return ""


def _keys_problem(flavors):
    flavor = _own_flavor(flavors)
    for name, known in (("python_function", PYFUNC_KNOWN), (flavor, FLAVOR_KNOWN)):
        conf = flavors.get(name) or {}
        unknown = sorted(key for key in conf if key not in known
                         and not (name == flavor and str(key).endswith("_version")))
        if unknown:
            return (f"its {name} flavor says {', '.join(map(str, unknown))}, which trackfit "
                    "does not know how to check")
    predict_fn = (flavors.get("python_function") or {}).get("predict_fn", "predict")
    if predict_fn != "predict":
        return f"its python_function predicts with {predict_fn!r}, not predict"
    return ""


def _own_flavor(flavors):
    return next(name for name in flavors if name != "python_function")


def _model_format(conf):
    """The key of MODEL_FILES the flavor configuration ``conf`` saved its model in."""
    if conf.get("serialization_format") == "skops":
        return "skops"
    return conf.get("model_class")


def _file_problem(folder, flavors):
    """Every name the MLmodel gives for the model's data is the flavor's one model file."""
    flavor = _own_flavor(flavors)
    expected = MODEL_FILES.get(_model_format(flavors[flavor]))
    if expected is None:
        return f"its {flavor} model is in a format trackfit does not know how to load"
    named = [(name, key, conf[key]) for name, conf in flavors.items()
             for key in PATH_KEYS if conf.get(key) is not None]
    if not any(name == flavor for name, _, _ in named):
        return f"its {flavor} flavor names no model file"
    for name, key, value in named:
        if value != expected:
            return (f"its {name} flavor's {key} is {value!r}, not the flavor's own model file "
                    f"{expected!r}")
    path = os.path.join(folder, expected)
    if not os.path.isfile(path):
        return f"its model file {expected} is missing"
    return ""


def read_plan(folder):
    """What the checked MLmodel in ``folder`` says to load: flavor, format, file, types."""
    import yaml

    with open(os.path.join(folder, "MLmodel"), encoding="utf-8") as handle:
        mlmodel = yaml.safe_load(handle)
    flavors = mlmodel["flavors"]
    flavor = _own_flavor(flavors)
    conf = flavors[flavor]
    kind = _model_format(conf)
    trusted = sorted(conf.get("skops_trusted_types") or []) if kind == "skops" else []
    return mlmodel, {"flavor": flavor, "format": kind, "file": MODEL_FILES[kind],
                     "trusted_types": trusted}


def columns_problem(mlmodel, model):
    """The signature's columns are the ones the model was fitted on, in order (predict
    selects the signature's columns and hands them to the model)."""
    fitted_on = getattr(model, "feature_names_in_", None)
    named = signature_columns(mlmodel)  # it passed _signature_problem
    if fitted_on is None or named is None:
        return
    if named != [str(name) for name in fitted_on]:
        raise Refused(f"its signature names the columns {', '.join(named)}, but the model "
                      f"was fitted on {', '.join(map(str, fitted_on))}")


def python_version(mlmodel):
    """The Python the model was saved with, as its MLmodel says, else this one: pyfunc warns
    about a model that names none."""
    import platform
    import re

    logged = mlmodel["flavors"].get("python_function", {}).get("python_version")
    if isinstance(logged, str) and re.fullmatch(r"\d+\.\d+(\.\d+)?", logged):
        return logged
    return platform.python_version()
