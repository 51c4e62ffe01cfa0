"""trackfit: train, track, compare and register regression models with MLflow.

For plugins: ``from trackfit import hookimpl`` (or ``pluggy.HookimplMarker("trackfit")``,
which is the same marker) and implement ``register_estimators(register)``.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("trackfit")
hookspec = pluggy.HookspecMarker("trackfit")


from .errors import (DataError, EstimatorError, GateRefused, InputError,  # noqa: F401
                     ModelRefused, ServerError, StoreError, TrackfitError, UsageError)


def scrub(text):
    """``text`` with the tracking server's password and token replaced by ***.

    They can arrive in MLFLOW_TRACKING_URI (http://user:password@host), or in
    MLFLOW_TRACKING_PASSWORD and MLFLOW_TRACKING_TOKEN, and MLflow's messages may repeat them.
    """
    import os
    from urllib.parse import urlsplit

    secrets = [os.environ.get("MLFLOW_TRACKING_PASSWORD"), os.environ.get("MLFLOW_TRACKING_TOKEN")]
    try:
        secrets.append(urlsplit(os.environ.get("MLFLOW_TRACKING_URI", "")).password)
    except ValueError:
        pass
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def first_line(exc, default=None, limit=300):
    """The first line of an exception's message: what a one-line error quotes of it.

    ``default`` when the message is empty (the exception's type name unless given). At most
    ``limit`` characters: a message may quote a value whole (a cell of a data file). The
    tracking password is replaced before the cut, which could leave part of it.
    """
    text = str(exc).strip()
    if text:
        line = text.splitlines()[0]
        if len(line) <= limit:
            return line
        return f"{scrub(line)[:limit]}..."
    return type(exc).__name__ if default is None else default


def quote(value, limit=80):
    """``value`` as an error quotes it: its repr, cut to about ``limit`` characters.

    Errors quote what the user gave (a cell, a column name, a param); a 100 MB cell must not
    make a 100 MB line. A cut string ends in ``...`` and says how long it was.
    """
    if isinstance(value, (str, bytes)) and len(value) > limit:
        text = repr(value[:limit])  # never the repr of the whole value
        return f"{text[:limit]}... ({len(value):,} characters)"
    import reprlib

    short = reprlib.Repr()  # a nested value (a dict cell of a parquet) cut inside too
    short.maxstring = short.maxother = limit
    text = short.repr(value)
    if "\n" in text:  # a numpy array's repr: one line
        text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}..."


def optional(module, extra, what, also=""):
    """``module`` imported, or a TrackfitError naming the extra that installs it.

    ``what`` is what needs it, as the user asked for it (``tune``, ``spark=local[2]``):
    "tune needs optuna, which is not installed: pip install 'trackfit[tune]'". Every
    optional dependency is imported through here, so each missing one reads the same.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise UsageError(f"{what} needs {top}{also}, which is not installed",
                         fix=f"pip install 'trackfit[{extra}]'", sep=": ") from exc
