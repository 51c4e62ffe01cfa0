"""evaluation.json: what a training run keeps for reports, so reports never load models.

It holds the held-out split's true values and predictions, and each CV fold's scores.
"""

import math

ARTIFACT = "evaluation.json"
MAX_PAIRS = 500  # enough to see a fit; a few KB


def log(y_true, y_pred, cv_folds=None):
    """Log the held-out pairs and the CV fold scores of the active run as ``evaluation.json``.

    At most MAX_PAIRS pairs, every k-th row, so the file stays small for any data size.
    """
    import mlflow
    import numpy as np

    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    every = max(1, -(-len(y_true) // MAX_PAIRS))
    mlflow.log_dict({
        "rows": len(y_true),
        "y_true": y_true[::every].tolist(),
        "y_pred": y_pred[::every].tolist(),
        "cv_folds": {name: [float(v) for v in values]
                     for name, values in (cv_folds or {}).items()},
    }, ARTIFACT)


def load(run_id):
    """The run's evaluation as a dict of float lists, or None when the run has none (older
    runs) or it is not what ``log`` writes."""
    import json
    import os
    import tempfile

    from ..tracking.runs import client

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client().download_artifacts(run_id, ARTIFACT, folder)
        except Exception:  # noqa: BLE001 - a run logged before evaluation.json existed
            return None
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            try:
                return checked(json.load(handle))
            except (ValueError, TypeError, KeyError, AttributeError):
                return None


def checked(found):
    """``found`` with every value a float and the pairs of equal length: none only beside
    CV folds (a run of main's refit=best that was not fitted whole)."""
    out = {"y_true": [float(v) for v in found["y_true"]],
           "y_pred": [float(v) for v in found["y_pred"]],
           "cv_folds": {str(name): [float(v) for v in values]
                        for name, values in found.get("cv_folds", {}).items()}}
    if len(out["y_true"]) != len(out["y_pred"]) or not (out["y_true"] or out["cv_folds"]):
        raise ValueError("y_true and y_pred differ in length, or hold nothing")
    values = out["y_true"] + out["y_pred"] + [v for f in out["cv_folds"].values() for v in f]
    if not all(math.isfinite(v) for v in values):
        raise ValueError("a value is not a finite number")
    return out
