"""predict: predictions for new rows from a registered model, checked against its signature."""

from .. import engines
from ..engines import predicting
from ..engines.source import parse
from ..tracking.registry import DEFAULT_MODEL


def predict(data="diabetes", model=DEFAULT_MODEL, output="", spark=""):
    """One predict run; returns the input rows, unchanged, with a ``prediction`` column.

    With ``spark`` the rows are scored and written by Spark (``predictions`` is then a
    Spark frame); without ``output`` they are printed.
    """
    return predicting.predict(parse(data), model, output, engines.choose(spark))
