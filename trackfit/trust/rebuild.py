"""``checked``: download a model, check its MLmodel and file, probe it, load it once and
rebuild a folder holding only an MLmodel trackfit wrote and the checked file.
"""

import contextlib
import json
import os
import shutil
import tempfile

from .. import ModelRefused, StoreError, UsageError, first_line
from ..tracking import store
from . import runtime
from .loading import digest, load_approved
from .mlmodel import EXAMPLE, columns_problem, problem, python_version, read_plan
from .policy import FIX, Refused, own_model, quiet_downloads, trusted
from .probing import probe_in_child, probe_rows, start_probe
from .sizes import unpacked


@contextlib.contextmanager
def checked(model_uri, trust=False):
    """The model at ``model_uri``, checked, loaded once and rebuilt: yields what to load.

    That is a local folder holding only an MLmodel trackfit wrote and the model file whose
    bytes were checked, loaded and validated (``load_model`` and pyfunc load it through
    this module, with MLflow's guard on), or ``model_uri`` itself when trust was given.
    The folder and the download are removed when the block ends. Raises TrackfitError with
    one line naming what failed and why (ModelRefused; StoreError when it cannot be fetched).
    """
    if trusted(trust):
        with own_model():  # MLflow loads it: its guard lifted, as the user vouched
            yield model_uri
        return
    start_probe()  # if not started yet: its imports overlap the download and the check
    workspace = tempfile.mkdtemp(prefix="trackfit-model-")
    try:
        fetched = _download(model_uri, os.path.join(workspace, "fetched"))
        built = os.path.join(workspace, "checked")
        try:
            runtime.remember(built, *_rebuild(fetched, built))
        except Refused as exc:
            raise ModelRefused(f"will not load model '{model_uri}': {exc}", fix=FIX) from None
        shutil.rmtree(fetched)
        yield built
    finally:
        runtime.forget(os.path.join(workspace, "checked"))
        shutil.rmtree(workspace, ignore_errors=True)


def _download(model_uri, destination):
    import mlflow

    os.makedirs(destination)
    try:
        with quiet_downloads():
            return mlflow.artifacts.download_artifacts(artifact_uri=model_uri,
                                                       dst_path=destination)
    except Exception as exc:
        reason = first_line(exc)
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        if reason.endswith(":") and len(lines) > 1:  # MLflow's "failures occurred ...:" heading
            reason = f"{reason} {first_line(lines[-1])}"
        raise (StoreError if store.failed(exc) else UsageError)(
            f"cannot fetch model '{model_uri}' ({reason})", fix="pass a models:/ or runs:/ URI "
            "of a model trackfit logged"
        ) from exc


def _rebuild(fetched, built):
    """Check the model in ``fetched``, load and validate it, write ``built``; (the model,
    what the plugins approved for it)."""
    import mlflow
    import yaml

    found = problem(fetched)
    if found:
        raise Refused(found)
    mlmodel, plan = read_plan(fetched)
    path = os.path.join(fetched, plan["file"])
    size = os.path.getsize(path)
    reads = unpacked(path, size) if plan["format"] == "skops" else size
    probed = probe_in_child(path, plan, probe_rows(mlmodel, fetched), reads)
    with open(path, "rb") as handle:
        data = handle.read()
    sha256 = digest(data)  # once: a forest's file is hundreds of MB
    if sha256 != probed:
        raise Refused("its model file changed while it was probed")
    model, approval = load_approved(data, plan)
    columns_problem(mlmodel, model)
    os.makedirs(built)
    with open(os.path.join(built, plan["file"]), "wb") as handle:
        handle.write(data)
    own = {"python_function": {"loader_module": runtime.LOADER, "data": plan["file"],
                               "python_version": python_version(mlmodel),
                               "trackfit": dict(plan, sha256=sha256)}}
    written = {"flavors": own, "mlflow_version": mlflow.__version__}
    if isinstance(mlmodel.get("signature"), dict):
        written["signature"] = mlmodel["signature"]
    with open(os.path.join(built, "MLmodel"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(written, handle)
    _copy_example(fetched, built)
    return model, approval


def _copy_example(fetched, built):
    """The serving input example, if any: what serve prints, rewritten as the data it parses
    to (serve shows no example when it does not parse)."""
    example = os.path.join(fetched, EXAMPLE)
    if not os.path.isfile(example):
        return
    try:
        with open(example, encoding="utf-8") as handle:
            parsed = json.load(handle)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return
    with open(os.path.join(built, EXAMPLE), "w", encoding="utf-8") as handle:
        json.dump(parsed, handle)
