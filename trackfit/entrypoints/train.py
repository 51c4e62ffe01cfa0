"""train: fit one estimator on the lab's split, log params, metrics, model and data."""

from .. import engines
from ..engines.source import parse
from ..engines.table import Ask
from ..fitting import training
from ..fitting.split import Split


def train(estimator="linear", params=None, data="diabetes", target="", features=(), ignore=(),
          categorical=(), missing="impute", test_size=Split.test_size,
          random_state=Split.random_state, cv=Split.cv, spark=""):
    """One training run; returns its run id, estimator name, metrics and model URI.

    ``params`` is a dict of hyperparameters; ``target`` the column to predict (empty: the
    dataset's own); ``spark`` a Spark master to read with.
    """
    ask = Ask(target, tuple(features), tuple(ignore), tuple(categorical), missing)
    return training.train(estimator, params or {}, parse(data, ask),
                          Split(test_size, random_state, cv), engines.choose(spark))
