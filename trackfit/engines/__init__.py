"""Data engines: read and validate a source into the lab's frame and its MLflow dataset,
and score rows with a checked model. Chosen once, from ``spark``; steps never ask which.

- ``pandas`` (the default): one machine, nothing to start (engines/pandas.py);
- ``spark``: a Spark master (``local[2]``, ``spark://host:7077``, ``yarn``), or the
  process's active SparkSession (engines/spark.py).

Every engine is an ``Engine`` (engines/base.py): ``params()``, ``load(src,
require_target)``, ``check_output(output)``, ``score(src, model_folder, needed, output,
label, text)`` returning a ``Scored``, ``show(scored)``, ``note()`` for an error line, and
``check_trials()`` and ``trials()`` for where tuning trials run. Every Spark import and
Spark session of trackfit lives in this package.
"""

from .base import Engine, Scored

__all__ = ["Engine", "Scored", "choose", "note"]

_chosen = {}  # the engine of each kind this process chose last, by name: for ``note``


def choose(spark=""):
    """The engine for ``spark``: a Spark master, or empty for pandas."""
    if spark:
        from .spark import SparkEngine

        engine = SparkEngine(spark)
    else:
        from .pandas import PandasEngine

        engine = PandasEngine()
    _chosen[engine.name] = engine
    return engine


def note():
    """What the engines this process chose add to an error line (where Spark's driver
    logged, if this process started one), or ''."""
    return "".join(engine.note() for engine in _chosen.values())
