"""evaluation.json: what a training run keeps for reports, so reports never load models.

It holds the held-out split's true values and predictions, and each CV fold's scores.
"""

ARTIFACT = "evaluation.json"


def log(y_true, y_pred, cv_folds=None):
    """Log the held-out pairs and the CV fold scores of the active run as ``evaluation.json``."""
    import mlflow

    mlflow.log_dict({
        "y_true": [float(v) for v in y_true],
        "y_pred": [float(v) for v in y_pred],
        "cv_folds": {name: [float(v) for v in values]
                     for name, values in (cv_folds or {}).items()},
    }, ARTIFACT)


def load(run_id):
    """The run's evaluation as a dict, or None when the run has none (older runs)."""
    import json
    import os
    import tempfile

    from .tracking import client

    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client().download_artifacts(run_id, ARTIFACT, folder)
        except Exception:  # noqa: BLE001 - a run logged before evaluation.json existed
            return None
        if not os.path.exists(path):
            return None
        with open(path) as handle:
            return json.load(handle)
