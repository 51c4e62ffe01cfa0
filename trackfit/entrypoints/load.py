"""load: read a source, validate it, log it as a dataset and a parquet artifact."""

from .. import engines
from ..engines.source import parse
from ..tracking import datasets


def load(data="diabetes", spark=""):
    """One load run; returns its run id, the validated frame and the artifact URI."""
    return datasets.load(parse(data), engines.choose(spark))
