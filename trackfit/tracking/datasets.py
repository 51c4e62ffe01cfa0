"""What a load run logs of its data: the dataset as the run's input, the validated frame as
a parquet artifact later steps can read back, and text such as the table's schema."""

import os
import tempfile

from . import store

ARTIFACT = "data/diabetes.parquet"


def log_input(dataset, context="source"):
    """``dataset`` as an input of the active run (retried when the store is busy)."""
    import mlflow

    store.retry(mlflow.log_input, dataset, context=context)


def log_frame(frame, artifact):
    """``frame`` as the parquet artifact ``artifact`` (``data/<name>.parquet``) of the
    active run."""
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, os.path.basename(artifact))
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(path, artifact_path=os.path.dirname(artifact))


def log_text(text, artifact):
    """``text`` as the artifact ``artifact`` of the active run."""
    import mlflow

    mlflow.log_text(text, artifact)
