"""load: read a source, validate it, log it as a dataset and a parquet artifact that later
steps can read back (``runs:/<run_id>/data/diabetes.parquet``), its table's roles printed
once and recorded (params and ``schema.json``)."""

from .. import engines
from ..engines.source import Ask, parse
from ..engines.table import SCHEMA, schema_text
from ..tracking import datasets, tags
from ..tracking.runs import log, step_run


def load(data="diabetes", target="", features=(), ignore=(), categorical=(), missing="impute",
         spark=""):
    """One load run; returns its run id, the validated frame, its table and the artifact URI.

    ``target``: the column to predict (empty: the dataset's own, Y for diabetes);
    ``features``, ``ignore``, ``categorical``: lists of column names; ``missing``: impute
    or refuse."""
    ask = Ask(target, tuple(features), tuple(ignore), tuple(categorical), missing)
    return step(parse(data, ask), engines.choose(spark))


def step(src, engine, nested=False):
    """The load run of Source ``src`` read by ``engine``; returns its run id, the validated
    frame, its dataset, its table and artifact URI."""
    with step_run("load", nested=nested, run_name="load") as run:
        frame, dataset, table = engine.load(src)
        datasets.log_input(dataset)
        asked = {k: v for k, v in src.ask.params().items() if v} if not table.lab else {}
        log(params={"data": src.safe, **engine.params(), **asked, "target": table.target,
                    **table.params()},
            tags={tags.DATA_DIGEST: dataset.digest, tags.ROWS: len(frame)})
        artifact = datasets.ARTIFACT if table.lab else f"data/{table.name}.parquet"
        datasets.log_frame(frame, artifact)
        datasets.log_text(schema_text(table), SCHEMA)
        uri = f"runs:/{run.info.run_id}/{artifact}"
        print(frame.head(10).to_string())
        if not table.lab:
            print(table.describe())
        print(f"load: {len(frame)} rows, digest {dataset.digest}, run {run.info.run_id}, "
              f"saved as {uri}")
        return {"run_id": run.info.run_id, "frame": frame, "dataset": dataset, "uri": uri,
                "digest": dataset.digest, "table": table}
