"""What the benchmark measures on: synthetic diabetes-like rows, a store of many runs."""

import sqlite3
import uuid
from pathlib import Path

from measure import PYTHON, fresh, run

COLUMNS = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6", "Y"]


def synthetic(rows, path, seed=0):
    """``rows`` rows drawn like the diabetes data (its means and covariance) as parquet."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_diabetes

    lab = load_diabetes(scaled=False, as_frame=True).frame.to_numpy()
    draws = np.random.default_rng(seed).multivariate_normal(
        lab.mean(axis=0), np.cov(lab, rowvar=False), size=rows)
    frame = pd.DataFrame(draws, columns=COLUMNS)
    frame["SEX"] = np.where(frame["SEX"] < 1.5, 1.0, 2.0)
    frame["AGE"] = frame["AGE"].round().clip(19, 79)
    frame.to_parquet(path, index=False)
    return path


def store_of_training_runs(count, template=None, seed=0):
    """A store with ``count`` finished training runs: the real ones, copied row for row.

    The real ones are those of ``template``, a store the lab ran in (``main``), or else of
    two trainings made here. The copies keep every param, tag and metric of the real runs
    (metric values jittered), so compare reads exactly what it would after ``count``
    trainings.
    """
    import random

    folder = fresh(template)
    if not template:
        for estimator in ("linear", "tree"):
            run([PYTHON, "-m", "trackfit", "train", "--estimator", estimator], folder)
    path = Path(folder) / "mlflow.db"
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    sources = [r[0] for r in db.execute(
        "select run_uuid from tags where key = 'trackfit.step' and value = 'train'")]
    tables = {"runs": "run_uuid", "params": "run_uuid", "tags": "run_uuid",
              "metrics": "run_uuid", "latest_metrics": "run_uuid"}
    copies = [uuid.uuid4().hex for _ in range(count - len(sources))]
    rows = {}
    for table, key in tables.items():
        columns = [c[1] for c in db.execute(f"pragma table_info({table})")]
        rows[table] = (columns, {s: db.execute(f"select * from {table} where {key}=?",
                                               (s,)).fetchall() for s in sources})
    for table, (columns, by_run) in rows.items():
        at = columns.index("run_uuid")
        value_at = columns.index("value") if table in ("metrics", "latest_metrics") else None
        new = []
        for i, run_id in enumerate(copies):
            source = sources[i % len(sources)]
            rng.seed(seed + i)
            jitter = rng.uniform(0.8, 1.2)  # one per run: metrics and latest_metrics agree
            for row in by_run[source]:
                row = list(row)
                row[at] = run_id
                if table == "runs":
                    row[columns.index("name")] = f"copy-{i}"
                    row[columns.index("artifact_uri")] = row[columns.index("artifact_uri")].replace(
                        source, run_id)
                if value_at is not None:
                    row[value_at] = row[value_at] * jitter
                new.append(row)
        marks = ",".join("?" * len(columns))
        db.executemany(f"insert into {table} ({','.join(columns)}) values ({marks})", new)
    db.commit()
    db.close()
    return path


if __name__ == "__main__":
    import sys

    # Run from the benchmark in a child process, so the benchmark itself stays small: a
    # process started from it inherits its peak memory, which would blur the figures.
    if sys.argv[1] == "synthetic":
        import pandas as pd

        path = synthetic(int(sys.argv[2]), sys.argv[3])
        print(pd.read_parquet(path).memory_usage(index=False).sum() / 2**20)
    else:
        print(store_of_training_runs(int(sys.argv[2]), *sys.argv[3:]))
