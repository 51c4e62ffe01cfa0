"""tune: search an estimator's hyperparameters with Optuna, each trial a nested child run.

Trials are scored by cross-validation on the training split only; the held-out split never
chooses. The best params are refitted as a training run nested under the tune run, so
compare and register see it as any other training run.
"""

from .. import engines
from ..engines.source import Ask, parse
from ..estimators import space as spacemod
from ..fitting import tuning
from ..fitting.split import Split, split
from ..tracking import tags
from ..tracking.runs import log, step_run
from . import train


def tune(estimator="tree", space="", trials=20, search="tpe", n_jobs=0, trials_on="",
         data="diabetes", target="", features=(), ignore=(), categorical=(), missing="impute",
         test_size=Split.test_size, random_state=Split.random_state,
         cv=Split.cv, metric="cv_r2_score", spark=""):
    """One tune run; ``trials_on`` a Spark master to run the trials on (empty: worker
    processes of this machine), ``spark`` a Spark master to read the data with. ``n_jobs``:
    trials at once (0: one worker per core this process may use)."""
    ask = Ask(target, tuple(features), tuple(ignore), tuple(categorical), missing)
    return step(estimator, space, trials, search, n_jobs, trials_on, parse(data, ask),
                Split(test_size, random_state, cv), engines.choose(spark), metric)


def step(estimator, space, trials, search, n_jobs, trials_on, src, how, engine, metric,
         loaded=None, nested=False):
    """The tune run, a child run per trial and the refitted best model as a training run.

    Returns the tune run's id, the best trial (number, params, metrics) and the refit's
    result as the train step returns it. ``loaded``: the (frame, dataset, table) read."""
    tuning.need(trials_on)  # before any run: nothing half-written without them
    with step_run("tune", nested=nested, run_name=f"tune-{estimator}") as run:
        spec, searched, trials, n_jobs = tuning.plan(estimator, space, trials, search,
                                                     n_jobs, how, metric)
        loaded = loaded or engine.load(src)
        X_train, _, y_train, _ = split(loaded[0], how, loaded[2])  # train's own split
        log(params={"estimator": estimator, "space": spacemod.to_text(searched),
                    "trials": trials, "search": search, "n_jobs": n_jobs,
                    "trials_on": trials_on, "data": src.safe, **how.params(),
                    "metric": metric, **engine.params()})
        (number, params, metrics), failed, trial_run_id = tuning.search_logged(
            run, estimator, spec, searched, search, trials, n_jobs, trials_on, X_train,
            y_train, how, metric, loaded[2])
        refit = train.step(estimator, dict(params), src, how, engine, loaded=loaded,
                           nested=True)  # the best params, a training run under this one
        found = {tags.TUNE_RUN_ID: run.info.run_id, tags.TRIALS: str(trials),
                 tags.BEST_TRIAL: str(number), tags.BEST_TRIAL_RUN_ID: trial_run_id}
        tuning.tag_refit(refit["run_id"], found)
        log(metrics={**metrics, "trials_failed": failed}, tags={
            **found, tags.BEST_PARAMS: tuning.params_text(params),
            tags.MODEL_RUN_ID: refit["run_id"], tags.MODEL_URI: refit["model_uri"]})
        print(f"tune: {estimator}, {trials} trials ({failed} failed), best {metric} "
              f"{metrics[metric]:.4f} at trial {number} ({tuning.params_text(params)}); "
              f"model in training run {refit['run_id']}, tune run {run.info.run_id}")
        return {"run_id": run.info.run_id, "best_trial": number, "best_params": params,
                "best_metrics": metrics, "trials": trials, "failed": failed, "train": refit}

