"""A load run: a source read and validated by the engine, logged as a dataset and a parquet
artifact that later steps can read back (``runs:/<run_id>/data/diabetes.parquet``), its
table's roles printed once and recorded (params and ``schema.json``)."""

import os
import tempfile

from . import store, tags
from .runs import log, step_run

ARTIFACT = "data/diabetes.parquet"


def load(src, engine, nested=False):
    """One load run; returns its run id, the validated frame, its dataset, its table and
    artifact URI."""
    import mlflow

    from ..engines.table import SCHEMA, schema_text

    with step_run("load", nested=nested, run_name="load") as run:
        frame, dataset, table = engine.load(src)
        store.retry(mlflow.log_input, dataset, context="source")
        asked = {k: v for k, v in src.ask.params().items() if v} if not table.lab else {}
        log(params={"data": src.safe, **engine.params(), **asked, "target": table.target,
                    **table.params()},
            tags={tags.DATA_DIGEST: dataset.digest, tags.ROWS: len(frame)})
        artifact = ARTIFACT if table.lab else f"data/{table.name}.parquet"
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, os.path.basename(artifact))
            frame.to_parquet(path, index=False)
            mlflow.log_artifact(path, artifact_path=os.path.dirname(artifact))
        mlflow.log_text(schema_text(table), SCHEMA)
        uri = f"runs:/{run.info.run_id}/{artifact}"
        print(frame.head(10).to_string())
        if not table.lab:
            print(table.describe())
        print(f"load: {len(frame)} rows, digest {dataset.digest}, run {run.info.run_id}, "
              f"saved as {uri}")
        return {"run_id": run.info.run_id, "frame": frame, "dataset": dataset, "uri": uri,
                "digest": dataset.digest, "table": table}
