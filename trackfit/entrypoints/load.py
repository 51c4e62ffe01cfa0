"""load: read a source, validate it, log it as a dataset and a parquet artifact."""

from .. import engines
from ..engines.source import parse
from ..engines.table import Ask
from ..tracking import datasets


def load(data="diabetes", target="", features=(), ignore=(), categorical=(), missing="impute",
         spark=""):
    """One load run; returns its run id, the validated frame, its table and the artifact URI.

    ``target``: the column to predict (empty: the dataset's own, Y for diabetes);
    ``features``, ``ignore``, ``categorical``: lists of column names; ``missing``: impute
    or refuse."""
    ask = Ask(target, tuple(features), tuple(ignore), tuple(categorical), missing)
    return datasets.load(parse(data, ask), engines.choose(spark))
