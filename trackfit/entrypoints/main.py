"""main: the whole lab in one process: load once, one train per estimator, compare, register.

main is the steps in one process (as MLflow's multistep workflow example runs its steps):
the step that imports the other steps, each called as a nested run (tune imports train alone,
for its refit).
"""

from .. import EstimatorError, UsageError, engines
from ..engines.source import Ask, parse
from ..fitting import training
from ..fitting.metrics import SCORERS
from ..fitting.pool import workers
from ..fitting.split import Split
from ..tracking import registry
from ..tracking.registry import ALIAS, MODEL_NAME
from ..tracking.runs import DEFAULT_METRIC, log, step_run
from . import compare, load, register, train


def main(estimators=("linear", "tree"), data="diabetes", target="", features=(), ignore=(),
         categorical=(), missing="impute", test_size=Split.test_size,
         random_state=Split.random_state, cv=Split.cv, metric=DEFAULT_METRIC,
         model_name=MODEL_NAME, alias=ALIAS, n_jobs=0, spark="", refit="all"):
    """Every step as a nested run under one parent; returns each step's result.

    ``estimators`` is a list of names (or plugin:name); ``["all"]`` is every installed
    estimator. ``n_jobs``: how many to train at once, each on one thread (0: one per core
    this process may use; 1: one after the other, the serial path). ``spark``: a Spark
    master, or empty for pandas. ``target``: the column to predict (empty: the dataset's
    own, Y for diabetes); ``features``, ``ignore``, ``categorical``: lists of column names;
    ``missing``: impute or refuse. The data is read once, and every estimator trains from
    that frame. ``refit``: "all", every estimator fitted on the whole training split,
    scored on the held-out rows and logged as a model; "best", every estimator's run
    holds its CV scores alone, and only the best by CV (``metric``'s cv_ twin) is then
    fitted whole, scored and logged, in its own run (as PyCaret's compare_models does).
    """
    if isinstance(estimators, str):
        raise EstimatorError(f"estimators is a list of names, e.g. {estimators.split(',')!r}")
    names = training.installed() if list(estimators) == ["all"] else list(estimators)
    ask = Ask(target, tuple(features), tuple(ignore), tuple(categorical), missing)
    src, how, engine = parse(data, ask), Split(test_size, random_state, cv), engines.choose(spark)
    if model_name == MODEL_NAME:  # the default: each table its own registered model
        model_name = registry.for_table(src.table_name)
    ranked_by = ranking(refit, metric, how)
    with step_run("main", run_name="main"):
        n_jobs = checked(names, how, model_name, alias, n_jobs)
        log(params={"estimators": ",".join(estimators), "data": src.safe, "metric": metric,
                    "n_jobs": n_jobs, "refit": refit, **engine.params()})
        loaded = load.step(src, engine, nested=True)
        read = (loaded["frame"], loaded["dataset"], loaded["table"])
        stage = "cv" if refit == "best" else "all"

        def one(name, parent_run_id=None, submit=None):  # nested here, or under main by id
            return train.step(name, {}, src, how, engine, loaded=read,
                              nested=parent_run_id is None, parent_run_id=parent_run_id,
                              submit=submit, stage=stage)

        trained = training.train_all(names, one, ranked_by, n_jobs)
        if refit == "best":
            at = training.best_of(trained, ranked_by)
            with training.workers_for_one(n_jobs):
                trained[at] = train.step(trained[at]["estimator"], {}, src, how, engine,
                                         loaded=read, nested=True, stage="final",
                                         run_id=trained[at]["run_id"],
                                         folds=trained[at]["folds"])
        compared = compare.compare(ranked_by, nested=True)
        held_out = metric if refit == "all" else "test_" + ranked_by[len("cv_"):]
        registered = register.register(held_out, model_name, alias, nested=True, loaded=read)
        return {"load": loaded, "train": trained, "compare": compared, "register": registered}


REFITS = ("all", "best")


def ranking(refit, metric, how):
    """What main ranks its training runs by: ``metric``, or with refit=best its CV twin
    (test_r2_score -> cv_r2_score), checked before any run starts."""
    if refit not in REFITS:
        raise UsageError(f"refit must be all or best, not {refit!r}",
                         fix="pass refit=all (every model fitted whole) or refit=best")
    if refit == "all":
        return metric
    twins = {f"{way}_{name}": f"cv_{name}" for name in SCORERS for way in ("test", "cv")}
    if not how.cv:
        raise UsageError("refit=best picks the best by CV, and cv is 0",
                         fix="pass cv=5 (or any number of folds from 2)")
    if metric not in twins:
        raise UsageError(f"refit=best ranks by CV, and metric {metric} has no CV twin",
                         fix=f"pass one of: {', '.join(sorted(twins))}")
    return twins[metric]


def checked(names, how, model_name, alias, n_jobs):
    """How many estimators to train at once, once every name and value is checked: before
    anything is trained, not after."""
    if not names:
        raise EstimatorError("estimators is empty", fix="pass e.g. estimators=linear,tree or all")
    n_jobs = min(workers(n_jobs), len(names))
    how.check()
    registry.check_names(model_name, alias)
    given = {}
    for name in names:  # every name checked before anything is trained
        spec, _ = training.resolve(name, {}, how.random_state)
        given.setdefault(spec.qualified_name, []).append(name)
    twice = [spelled for spelled in given.values() if len(spelled) > 1]
    if twice:
        raise EstimatorError(
            f"estimators names {twice[0][0]} more than once ({', '.join(twice[0])}): the same "
            "model would be trained twice", fix="pass each estimator once")
    return n_jobs
