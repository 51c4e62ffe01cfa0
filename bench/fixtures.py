"""What the benchmark measures on: synthetic diabetes-like rows, a store of many runs, and
ggplot2's diamonds as a file."""

import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
import zipfile
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


# ggplot2's diamonds (53,940 rows: 3 text columns, 6 numbers, target price), as plotnine's
# wheel ships it, without an index column. Fetched once with pip and cached.
DIAMONDS_WHEEL = "plotnine==0.15.9"
DIAMONDS_MEMBER = "plotnine/data/diamonds.csv"
DIAMONDS_COLUMNS = ["carat", "cut", "color", "clarity", "depth", "table", "price", "x", "y", "z"]


def diamonds_cache():
    """Where the downloaded wheel is kept between benchmark runs."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(root) / "trackfit-bench"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / "trackfit-bench"
        path.mkdir(parents=True, exist_ok=True)
    return path


def diamonds(path, rows=0):
    """ggplot2's diamonds as a CSV at ``path`` (the first ``rows`` after a seeded shuffle if
    ``rows``); returns where it came from: the wheel, or, when the wheel cannot be fetched
    (offline), a synthetic table of the same shape."""
    import pandas as pd

    cache = diamonds_cache()
    wheels = sorted(cache.glob("plotnine-*.whl"))
    if not wheels:
        try:  # offline, pip gives up quickly
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                            "--disable-pip-version-check", "--retries", "0", "--timeout", "15",
                            DIAMONDS_WHEEL, "-d", str(cache)], capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            pass
        wheels = sorted(cache.glob("plotnine-*.whl"))
    if wheels:
        with zipfile.ZipFile(wheels[-1]) as wheel, wheel.open(DIAMONDS_MEMBER) as member:
            frame = pd.read_csv(member)
        source = f"diamonds from {wheels[-1].name}"
    else:
        frame = synthetic_diamonds(53_940)
        source = "synthetic diamonds-shaped table (plotnine's wheel could not be fetched)"
    frame = frame[DIAMONDS_COLUMNS]
    if rows and rows < len(frame):
        frame = frame.sample(n=rows, random_state=0).reset_index(drop=True)
    frame.to_csv(path, index=False)
    return f"{len(frame)} rows, {source}"


def synthetic_diamonds(rows, seed=0):
    """A table shaped like diamonds: the same columns, kinds and levels; price from carat and
    the grades."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    levels = {"cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
              "color": list("DEFGHIJ"), "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2",
                                                    "VVS1", "IF"]}
    carat = (rng.gamma(2.0, 0.4, rows) + 0.2).round(2)
    frame = pd.DataFrame({"carat": carat})
    grade = np.zeros(rows)
    for name, values in levels.items():
        picked = rng.integers(0, len(values), rows)
        frame[name] = np.array(values)[picked]
        grade += picked / len(values)
    frame["depth"] = rng.normal(61.7, 1.4, rows).round(1)
    frame["table"] = rng.normal(57.5, 2.2, rows).round()
    side = 6.5 * carat ** (1 / 3)
    for axis in "xyz":
        frame[axis] = (side * (0.62 if axis == "z" else 1) + rng.normal(0, 0.05, rows)).round(2)
    frame["price"] = (3900 * carat ** 1.6 * (0.6 + 0.4 * grade)
                      * rng.lognormal(0, 0.1, rows)).round().astype(int) + 300
    return frame


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
    # Run from the benchmark in a child process, so the benchmark itself stays small: a
    # process started from it inherits its peak memory, which would blur the figures.
    if sys.argv[1] == "diamonds":
        print(diamonds(sys.argv[3], int(sys.argv[2])))
    elif sys.argv[1] == "synthetic":
        import pandas as pd

        path = synthetic(int(sys.argv[2]), sys.argv[3])
        print(pd.read_parquet(path).memory_usage(index=False).sum() / 2**20)
    else:
        print(store_of_training_runs(int(sys.argv[2]), *sys.argv[3:]))
