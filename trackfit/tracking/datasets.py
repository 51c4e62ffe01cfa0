"""A load run: a source read and validated by the engine, logged as a dataset and a parquet
artifact that later steps can read back (``runs:/<run_id>/data/diabetes.parquet``)."""

import os
import tempfile

from . import store, tags
from .runs import log, step_run

ARTIFACT = "data/diabetes.parquet"


def load(src, engine, nested=False):
    """One load run; returns its run id, the validated frame, its dataset and artifact URI."""
    import mlflow

    with step_run("load", nested=nested, run_name="load") as run:
        frame, dataset = engine.load(src)
        store.retry(mlflow.log_input, dataset, context="source")
        log(params={"data": src.safe, **engine.params()},
            tags={tags.DATA_DIGEST: dataset.digest, tags.ROWS: len(frame)})
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, os.path.basename(ARTIFACT))
            frame.to_parquet(path, index=False)
            mlflow.log_artifact(path, artifact_path=os.path.dirname(ARTIFACT))
        uri = f"runs:/{run.info.run_id}/{ARTIFACT}"
        print(frame.head(10).to_string())
        print(f"load: {len(frame)} rows, digest {dataset.digest}, run {run.info.run_id}, "
              f"saved as {uri}")
        return {"run_id": run.info.run_id, "frame": frame, "dataset": dataset, "uri": uri,
                "digest": dataset.digest}
