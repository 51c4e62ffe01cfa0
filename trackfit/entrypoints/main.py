"""main: the whole lab in one process: load once, one train per estimator, compare, register."""

from .. import EstimatorError, engines
from ..engines.source import parse
from ..engines.table import Ask
from ..fitting import training
from ..fitting.pool import workers
from ..fitting.split import Split
from ..reports import compare
from ..tracking import datasets, registry
from ..tracking.registry import ALIAS, MODEL_NAME
from ..tracking.runs import DEFAULT_METRIC, log, step_run


def main(estimators=("linear", "tree"), data="diabetes", target="", features=(), ignore=(),
         categorical=(), missing="impute", test_size=Split.test_size,
         random_state=Split.random_state, cv=Split.cv, metric=DEFAULT_METRIC,
         model_name=MODEL_NAME, alias=ALIAS, n_jobs=0, spark=""):
    """Every step as a nested run under one parent; returns each step's result.

    ``estimators`` is a list of names (or plugin:name); ``["all"]`` is every installed
    estimator. ``n_jobs``: how many to train at once, each on one thread (0: one per core
    this process may use; 1: one after the other, the serial path). ``spark``: a Spark
    master, or empty for pandas. ``target``: the column to predict (empty: the dataset's
    own, Y for diabetes); ``features``, ``ignore``, ``categorical``: lists of column names;
    ``missing``: impute or refuse. The data is read once, and every estimator trains from
    that frame.
    """
    if isinstance(estimators, str):
        raise EstimatorError(f"estimators is a list of names, e.g. {estimators.split(',')!r}")
    names = training.installed() if list(estimators) == ["all"] else list(estimators)
    ask = Ask(target, tuple(features), tuple(ignore), tuple(categorical), missing)
    src, how, engine = parse(data, ask), Split(test_size, random_state, cv), engines.choose(spark)
    if model_name == MODEL_NAME:  # the default: each table its own registered model
        model_name = registry.for_table(src.table_name)
    with step_run("main", run_name="main"):
        if not names:
            raise EstimatorError("estimators is empty; pass e.g. estimators=linear,tree or all")
        n_jobs = min(workers(n_jobs), len(names))
        how.check()
        registry.check_names(model_name, alias)  # before training, not after
        given = {}
        for name in names:  # every name checked before anything is trained
            spec, _ = training.resolve(name, {}, random_state)
            given.setdefault(spec.qualified_name, []).append(name)
        twice = [spelled for spelled in given.values() if len(spelled) > 1]
        if twice:
            raise EstimatorError(
                f"estimators names {twice[0][0]} more than once ({', '.join(twice[0])}): the same "
                "model would be trained twice; pass each estimator once")
        log(params={"estimators": ",".join(estimators), "data": src.safe, "metric": metric,
                    "n_jobs": n_jobs, **engine.params()})
        loaded = datasets.load(src, engine, nested=True)
        read = (loaded["frame"], loaded["dataset"], loaded["table"])
        trained = training.train_all(names, src, how, engine, read, metric, n_jobs)
        compared = compare.compare(metric, nested=True)
        registered = registry.register(metric, model_name, alias, nested=True,
                                       loaded=read)
        return {"load": loaded, "train": trained, "compare": compared, "register": registered}
