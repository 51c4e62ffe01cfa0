"""train: fit one estimator on the lab's split, log params, metrics, model and data."""

from .. import engines
from ..engines.source import parse
from ..fitting import training
from ..fitting.split import Split


def train(estimator="linear", params=None, data="diabetes", test_size=Split.test_size,
          random_state=Split.random_state, cv=Split.cv, spark=""):
    """One training run; returns its run id, estimator name, metrics and model URI.

    ``params`` is a dict of hyperparameters; ``spark`` a Spark master to read with.
    """
    return training.train(estimator, params or {}, parse(data),
                          Split(test_size, random_state, cv), engines.choose(spark))
