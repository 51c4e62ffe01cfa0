"""What predict needs of a model before it scores: its MLmodel read through the trust
check, its signature's input columns and which of them are text."""

import os

from .. import ModelRefused, StoreError, UsageError, first_line, quote, trust
from ..tracking import store


def model_info(model):
    """MLflow's ModelInfo for ``model`` and its signature's input columns (None without a
    signature), or a one-line error: a model that is not there is a store error, one whose
    MLmodel or signature cannot be read is refused."""
    import yaml
    from mlflow.exceptions import MlflowException
    from mlflow.models import get_model_info

    if os.path.isfile(model):
        raise UsageError(f"model '{model}' is a file", fix="pass the folder that holds the model's "
                         "MLmodel, or a models:/ or runs:/ URI")
    try:
        with trust.quiet_downloads():
            info = get_model_info(model)
        inputs = trust.signature_inputs(info.signature)
    except trust.Refused as exc:
        raise ModelRefused(f"will not load model '{model}': {exc}", fix=trust.FIX) from None
    except yaml.YAMLError as exc:  # MLflow reads MLmodel with safe_load: a !!python/... tag
        raise ModelRefused(
            f"will not load model '{model}': its MLmodel is not plain YAML "
            f"({quote(first_line(exc), 160)}), and a !!python tag in it would run code",
            fix="register a model trackfit logged, or pass model= another models:/ or runs:/ URI"
        ) from exc
    except (MlflowException, OSError) as exc:  # not in the store, or the store not there
        raise (StoreError if store.failed(exc) else UsageError)(
            f"cannot find model '{model}' ({first_line(exc)})", fix="register one first "
            "(mlflow run . -e register) or pass model= a models:/ or runs:/ URI"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - a crafted MLmodel: nested, mistyped, broken
        raise ModelRefused(
            f"will not load model '{model}': its MLmodel cannot be read "
            f"({type(exc).__name__})", fix=trust.FIX) from None
    return info, inputs


def text_columns(signature):
    """The input columns a model's signature reads as text (a table's categories and
    dates); the engines read every other one as numbers."""
    if signature is None:
        return []
    return [spec.name for spec in signature.inputs.inputs
            if getattr(getattr(spec, "type", None), "name", None) == "string"]
