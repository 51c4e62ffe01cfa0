"""load: read a source, validate it, log it as a dataset and a parquet artifact."""

import os
import tempfile

from .. import data as datamod, store, tags
from ..tracking import log, step_run

ARTIFACT = "data/diabetes.parquet"


def load(data="diabetes", nested=False):
    """One load run; returns its run id, the validated frame and the artifact URI."""
    import mlflow

    data = datamod.source(data)
    with step_run("load", nested=nested, run_name="load") as run:
        frame = datamod.load(data)
        dataset = datamod.dataset(frame, data)
        store.retry(mlflow.log_input, dataset, context="source")
        log(params={"data": data.safe},
            tags={tags.DATA_DIGEST: dataset.digest, tags.ROWS: len(frame)})
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, os.path.basename(ARTIFACT))
            frame.to_parquet(path, index=False)
            mlflow.log_artifact(path, artifact_path=os.path.dirname(ARTIFACT))
        uri = f"runs:/{run.info.run_id}/{ARTIFACT}"
        print(frame.head(10).to_string())
        print(f"load: {len(frame)} rows, digest {dataset.digest}, run {run.info.run_id}, "
              f"saved as {uri}")
        return {"run_id": run.info.run_id, "frame": frame, "uri": uri, "digest": dataset.digest}
