"""Data engines: read and validate a source into the lab's frame and its MLflow dataset,
and score rows with a checked model. Chosen once, from ``spark``; steps never ask which.

- ``pandas`` (the default): one machine, nothing to start (engines/pandas.py);
- ``spark``: a Spark master (``local[2]``, ``spark://host:7077``, ``yarn``), or the
  process's active SparkSession (engines/spark.py).

Every engine has ``load(src, require_target)``, ``check_output(output)``,
``score(src, model_folder, needed, output, label)`` and ``show(predictions)``.
"""


def choose(spark=""):
    """The engine for ``spark``: a Spark master, or empty for pandas."""
    if spark:
        from .spark import SparkEngine

        return SparkEngine(spark)
    from .pandas import PandasEngine

    return PandasEngine()
