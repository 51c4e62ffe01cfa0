"""train: fit one estimator on the lab's split, log params, metrics, model and data."""

from .. import engines
from ..engines.source import Ask, parse
from ..fitting import training
from ..fitting.split import Split
from ..tracking.runs import step_run


def train(estimator="linear", params=None, data="diabetes", target="", features=(), ignore=(),
          categorical=(), missing="impute", test_size=Split.test_size,
          random_state=Split.random_state, cv=Split.cv, spark=""):
    """One training run; returns its run id, estimator name, metrics and model URI.

    ``params`` is a dict of hyperparameters; ``target`` the column to predict (empty: the
    dataset's own); ``spark`` a Spark master to read with.
    """
    ask = Ask(target, tuple(features), tuple(ignore), tuple(categorical), missing)
    return step(estimator, params or {}, parse(data, ask), Split(test_size, random_state, cv),
                engines.choose(spark))


def step(estimator, params, src, how, engine, loaded=None, nested=False, parent_run_id=None,
         submit=None, stage="all", run_id=None, folds=None):
    """The training run of ``estimator`` on Source ``src`` split by ``how``; ``loaded``: the
    (frame, dataset, table) already read; ``parent_run_id``: nest under that run from
    another thread; ``submit``: the workers its CV folds run on (main's). ``stage``,
    ``folds``: main's refit=best (training.train); ``run_id``: the CV run a "final" resumes.
    """
    with step_run("train", nested=nested, run_name=estimator, parent_run_id=parent_run_id,
                  run_id=run_id) as run:
        result = training.train(estimator, params, src, how, engine, loaded, submit, stage,
                                folds)
        print(training.summary(result, run.info.run_id))
        return {"run_id": run.info.run_id, "estimator": estimator,
                "metrics": result["metrics"], "model_uri": result["model_uri"],
                "folds": result["folds"]}
