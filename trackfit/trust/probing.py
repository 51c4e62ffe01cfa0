"""The probe: a model's first load and a predict of a few rows, in a forked child process
with capped memory, time and threads, before this process loads it.
"""

import json
import os

from .. import first_line, processes
from .loading import digest, load_bytes
from .mlmodel import EXAMPLE, signature_columns
from .policy import Refused
from .sizes import size_text

# The probe: the first load of a model file and a predict of a few rows run in a child
# process (processes.forked) before this process loads it, so a model that crashes compiled
# code, or needs far more memory or time than its size says, ends that child, not the step.
# The child may map PROBE_MEMORY beyond its imports plus 4 times what the file unpacks to,
# and take PROBE_SECONDS plus a second per 10 MB unpacked; BLAS, OpenMP and joblib run on
# one thread in it.
PROBE_MEMORY = 2**30
PROBE_SECONDS = 20
PROBE_IMPORTS = ["skops.io", "pandas", "joblib", "threadpoolctl", "sklearn.pipeline",
                 "sklearn.dummy", "sklearn.ensemble", "sklearn.linear_model",
                 "sklearn.neighbors", "sklearn.svm", "sklearn.tree", "sklearn.compose",
                 "sklearn.impute", "sklearn.preprocessing", "trackfit.trust",
                 "trackfit.estimators.plugins", "trackfit.estimators.checks",
                 "trackfit.estimators.preprocessing"]
REFUSED, OUT_OF_MEMORY = 3, 4  # the probe's exit codes besides 0


def start_probe():
    """Start the probe's forking process, importing PROBE_IMPORTS (seconds: scikit-learn and
    skops), and return at once: a command that will check a model calls it first, so those
    imports overlap its own work on another core rather than wait for the check."""
    processes.start_forker(PROBE_IMPORTS)


def probe_in_child(path, plan, rows, reads):
    """Load the model file at ``path`` (``reads`` bytes unpacked) and predict ``rows`` in a
    child process with capped memory and time; the SHA-256 of the bytes it loaded. Refused
    when the child refuses the model or dies."""
    import signal

    memory = PROBE_MEMORY + 4 * reads
    seconds = PROBE_SECONDS + reads // (10 * 2**20)
    request = {"file": path, "plan": plan, "rows": rows, "cwd": os.getcwd(),
               "env": dict(os.environ)}
    try:
        status, message = processes.forked(f"{__name__}:probe", request, seconds, memory,
                                           PROBE_IMPORTS)
    except OSError as exc:
        raise Refused(f"it could not be probed in a child process ({first_line(exc)})") from None
    if status == 0:
        return message
    if status == REFUSED:
        raise Refused(message)
    if status == OUT_OF_MEMORY or message.startswith("MemoryError"):
        raise Refused(f"probing it ran out of memory: loading it and predicting a few rows "
                      f"took more than the probe's {size_text(memory)} (1 GB and 4 times the "
                      f"{size_text(reads)} its file unpacks to)")
    if status == -signal.SIGALRM:
        raise Refused(f"probing it took longer than {seconds} s: loading it and predicting a "
                      "few rows should take seconds")
    if status < 0:
        raise Refused(f"probing it crashed the process (signal {-status}, "
                      f"{signal.Signals(-status).name}) while loading it or predicting a few rows")
    raise Refused(f"probing it crashed the process (exit code {status}"
                  f"{': ' + message if message else ''})")


def probe_rows(mlmodel, fetched):
    """Rows to probe a model with: its input example's first five, else three rows of zeros
    in its signature's columns, else None (zeros as wide as the model says it reads)."""
    try:
        with open(os.path.join(fetched, EXAMPLE), encoding="utf-8") as handle:
            split = json.load(handle)["dataframe_split"]
        columns, data = split["columns"], split["data"][:5]
        if data and all(isinstance(c, str) for c in columns) and all(
                isinstance(row, list) and len(row) == len(columns) for row in data):
            return {"columns": columns, "data": data}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        pass
    columns = signature_columns(mlmodel)
    if columns:
        return {"columns": columns, "data": [[0.0] * len(columns)] * 3}
    return None


def probe(request):
    """In the probe's child process: load the file as ``load_bytes`` does and predict the
    rows. (0, the SHA-256 of the bytes loaded), (REFUSED, why) or (OUT_OF_MEMORY, '')."""
    import joblib
    from threadpoolctl import threadpool_limits

    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"], **processes.FORKER_ENV)
    threadpool_limits(1)
    try:
        with open(request["file"], "rb") as handle:
            data = handle.read()
        try:
            model = load_bytes(data, request["plan"])
        except Refused as exc:
            return REFUSED, str(exc)
        rows = _probe_frame(model, request["rows"])
        with joblib.parallel_config(backend="sequential"):
            try:
                if rows is not None:
                    model.predict(rows)
            except MemoryError:
                raise
            except Exception:  # noqa: BLE001, S110 - raising is not crashing: predict says why
                pass
    except MemoryError:
        return OUT_OF_MEMORY, ""
    return 0, digest(data)


def _probe_frame(model, rows):
    import numpy as np
    import pandas as pd

    if rows:
        return pd.DataFrame(rows["data"], columns=rows["columns"])
    width = getattr(model, "n_features_in_", None)
    if not isinstance(width, (int, np.integer)) or not 0 < width <= 10_000:
        return None
    return np.zeros((3, int(width)))
