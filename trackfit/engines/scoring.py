"""Scoring many rows at the estimator's own speed: one float64 block, one schema check.

pyfunc's ``predict`` copies every row to enforce the signature, and scikit-learn then
gathers the frame's separate columns into one array: on 1,000,000 rows the call ran at a
third of the bare estimator's throughput. Here the rows are laid out once, as the model
reads them (:func:`block`), trackfit checks them against the signature once, and the model
predicts through its own flavor's ``load_model``: one code path for every flavor whose
MLmodel names a ``loader_module`` (``mlflow.sklearn``, ``mlflow.lightgbm``, ...).
pyfunc stays for a model whose signature is not all numbers (or ``any``), or that has no
signature.

Spark's executors score with a ``Scorer``: the checked bytes and what the driver approved
for them, loaded once per Python worker (``scorer`` makes one on the driver).
"""

import importlib

from .. import ModelRefused, trust

NUMBER_TYPES = ("double", "float", "long", "integer")


def block(frame, names, rows=None):
    """The columns ``names`` of ``frame`` (only ``rows``, by position, if given) as a frame
    of one float64 block, in that order.

    One copy of those columns (frames the engines read hold each column apart). A model
    fitting or predicting on the result reads the block in place: ``numpy.asarray`` of it
    is a view, where a frame of separate columns is gathered into one array on every call.
    """
    import numpy as np
    import pandas as pd

    count = len(frame) if rows is None else len(rows)
    values = np.empty((count, len(names)), order="F")
    for at, name in enumerate(names):
        column = frame[name].to_numpy(dtype="float64")
        if rows is None:
            values[:, at] = column
        else:
            np.take(column, rows, out=values[:, at])
    index = frame.index if rows is None else None
    return pd.DataFrame(values, columns=list(names), index=index, copy=False)


def columns(signature):
    """The input column names of a signature whose inputs are all numbers, else None.

    A column of type ``any`` counts as a number: trackfit logs its models' columns so (see
    fitting.models.signature), and the engines have read every column as float64.
    """
    from mlflow.types.schema import AnyType

    if signature is None or not signature.inputs.has_input_names():
        return None
    specs = signature.inputs.inputs
    kinds = [getattr(s, "type", None) for s in specs]
    if not all(isinstance(k, AnyType) or getattr(k, "name", None) in NUMBER_TYPES for k in kinds):
        return None
    return [s.name for s in specs]


def flavor_model(source, meta):
    """The model object its flavor's ``load_model`` returns, or None if it cannot predict."""
    loader = meta.flavors.get("python_function", {}).get("loader_module", "")
    if not loader.startswith("mlflow.") and loader != trust.LOADER:  # a checked copy
        return None
    model = importlib.import_module(loader).load_model(source)
    return model if callable(getattr(model, "predict", None)) else None


def predictor(source):
    """A function from a frame to the predictions of the model at ``source``.

    ``source`` is a model URI, or the local folder a trust check returned. The function
    checks the frame's columns against the signature (names present; the columns are
    taken in the signature's order as float64, as the engine validated them), then calls
    the model's own ``predict``. Models this cannot serve go through pyfunc.
    """
    import mlflow
    from mlflow.models import Model

    meta = Model.load(source)
    names = columns(meta.signature)
    model = flavor_model(source, meta) if names else None
    if model is None:
        return mlflow.pyfunc.load_model(source).predict

    def predict(frame):
        missing = [name for name in names if name not in frame.columns]
        if missing:
            raise ValueError(f"missing input column(s) {', '.join(missing)}")
        return model.predict(frame if list(frame.columns) == names else frame[names])

    return predict


class Scorer:
    """Predictions for float64 frames from the checked bytes: what Spark's executors run.

    Pickled to each executor with the model file's bytes, which the driver checked and
    validated, and what the driver's plugins approved for them (the types skops may trust,
    the validate checks): an executor loads the bytes with the same skops call once per
    Python worker, after checking they are those bytes, and runs those checks
    (``trust.load_shipped``). It asks no plugins of its own, so its trust is the driver's,
    whatever the executor has installed.
    """

    def __init__(self, data, plan, approval):
        self.data, self.plan, self.approval = data, plan, approval

    def __call__(self, frame):
        import numpy as np

        model = _scorers.get(self.plan["sha256"])
        if model is None:
            model = trust.load_shipped(self.data, self.plan, self.approval)
            _scorers[self.plan["sha256"]] = model
        return np.asarray(model.predict(frame), dtype="float64").reshape(len(frame))


_scorers = {}  # the models a Python worker loaded, by the SHA-256 of their bytes


def scorer(model_uri):
    """A ``Scorer`` for a folder ``trust.checked`` rebuilt, or None for anything else (trust
    given: Spark scores through pyfunc's udf)."""
    try:
        shipped = trust.approved(model_uri)
    except trust.Refused as exc:
        raise ModelRefused(str(exc)) from None
    if shipped is None:
        return None
    data, plan, approval, model = shipped
    _scorers[plan["sha256"]] = model
    return Scorer(data, plan, approval)
