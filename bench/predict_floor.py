"""The hand-written floor of `trackfit predict` on parquet: what scoring a file needs at least.

    python bench/predict_floor.py DATA OUTPUT

Resolves the champion alias, loads the skops file, calls the estimator's predict and writes
the rows with their predictions as parquet: no run, no checks.
"""

import os
import sys

import mlflow
import pandas as pd
import skops.io

FEATURES = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]


def main(data, output, name="model-diabetes", alias="champion"):
    version = mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    folder = mlflow.artifacts.download_artifacts(f"models:/{name}/{version.version}")
    path = os.path.join(folder, "model.skops")
    model = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
    frame = pd.read_parquet(data)
    frame["prediction"] = model.predict(frame[FEATURES])
    frame.to_parquet(output, index=False)


if __name__ == "__main__":
    main(*sys.argv[1:])
