"""Tuning: search an estimator's hyperparameters with Optuna, each trial a child run of the
tune step's run.

Trials are scored by cross-validation on the training split only; the held-out split never
chooses. The tune step refits the best params as a training run nested under its run, so
compare and register see it as any other training run.
"""

import difflib
import time

from .. import EstimatorError, TrackfitError, UsageError, engines, optional
from ..estimators import hyperparams, plugins
from ..estimators import space as spacemod
from ..tracking import tags as tagnames
from ..tracking.runs import client, higher_is_better
from .metrics import SCORERS
from .pipeline import build
from .pool import pool, workers
from .progress import Progress

SEARCHES = ("tpe", "random", "grid")
METRICS = tuple(f"cv_{name}" for name in SCORERS)


def params_text(params):
    """{'max_depth': 3, 'max_features': 0.5} -> 'max_depth=3,max_features=0.5'."""
    return ",".join(f"{name}={value}" for name, value in params.items())


def check(spec, space):
    """Every name in ``space`` is a hyperparameter of the estimator, and not its seed."""
    if not space:
        raise EstimatorError(
            f"estimator '{spec.name}' has no default search space and no space was given",
            fix=f"pass one as space=name=range,... e.g. space=fit_intercept=true|false (each "
            f"estimator's default space: `python -m trackfit estimators --json`)")
    known = spec.load_factory()().get_params(deep=False)
    for name in space:
        if name == hyperparams.SEED_PARAM:
            raise EstimatorError("random_state is the run's seed, not a hyperparameter to "
                                 "search", fix="pass random_state=N as its own parameter")
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise EstimatorError(f"estimator '{spec.name}' has no hyperparameter '{name}' to "
                                 "search", fix=f"{hint}it takes: {', '.join(sorted(known))}")


def sampler(search, space, seed):
    import optuna

    if search == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


GRID_POINTS = 100_000  # the most a grid search lays out (about 60 MB of points)


def grid_points(space, trials, seed):
    """Every combination of the choices, in a seeded order; the first ``trials`` of them.

    Enqueued in the study, so a grid is searched with ask and tell like the other samplers
    (Optuna's GridSampler stops the study from inside ``optimize`` only).
    """
    import itertools
    import math
    import random

    values = spacemod.grid(space)
    size = math.prod(len(choices) for choices in values.values())
    if size > GRID_POINTS:
        raise UsageError(
            f"the grid has {size:,} points ({' x '.join(str(len(v)) for v in values.values())}"
            ")", fix=f"a grid search shuffles every point before it takes the first {trials}, and "
            f"past {GRID_POINTS:,} points that list alone takes hundreds of megabytes: pass "
            "--search random, or fewer choices")
    points = [dict(zip(values, combination))
              for combination in itertools.product(*values.values())]
    random.Random(seed).shuffle(points)
    return points[:trials]


class TrialLog:
    """Each finished trial as a child run of the tune run, written with explicit run ids.

    Never through MLflow's active run, so trials from many workers cannot collide on it.
    One writer thread does the writes (one create, one batch of params and metrics, one end
    per trial) while the next trials run; ``close()`` waits for every write and raises the
    first error.
    """

    def __init__(self, parent, estimator):
        from concurrent.futures import ThreadPoolExecutor

        self.parent, self.estimator = parent, estimator
        self.run_ids = {}
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trackfit-trials")
        self.pending = []

    def record(self, number, params, metrics, error, started, ended):
        self.pending.append(self.writer.submit(
            self.write, number, dict(params), metrics, error, started, ended))

    def write(self, number, params, metrics, error, started, ended):
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

        tags = {MLFLOW_PARENT_RUN_ID: self.parent.info.run_id, tagnames.STEP: "trial",
                tagnames.TRIAL: str(number), tagnames.ESTIMATOR: self.estimator}
        run = client().create_run(self.parent.info.experiment_id, start_time=started,
                                  tags=tags, run_name=f"trial-{number}")
        run_id = run.info.run_id
        client().log_batch(
            run_id,
            metrics=[Metric(k, v, ended, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)) for k, v in {**params, "estimator": self.estimator}.items()],
            tags=[RunTag(tagnames.ERROR, error)] if error else [],
        )
        client().set_terminated(run_id, "FAILED" if error else "FINISHED", end_time=ended)
        self.run_ids[number] = run_id

    def close(self):
        """Wait for every trial's writes; the first error, if any, is raised."""
        self.writer.shutdown(wait=True)
        for future in self.pending:
            future.result()


def search_study(spec, searched, search, trials, n_jobs, trials_on, X, y, cv, metric, seed,
                 record=None, progress=None, table=None):
    """The Optuna study: ``trials`` trials, ``n_jobs`` at a time, each passed to ``record``.

    Trials are asked for in batches of ``n_jobs`` and told in trial order, so a seeded study
    gives the same trials whatever the workers' timing. Returns the best trial as (number,
    params, CV metrics) and the number of failed trials; raises if every trial failed.
    ``table``: each trial's model is the pipeline a training run of that table fits.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if higher_is_better(metric) else "minimize"
    study = optuna.create_study(direction=direction, sampler=sampler(search, searched, seed))
    if search == "grid":
        for point in grid_points(searched, trials, seed):
            study.enqueue_trial(point)
    distributions = {name: dim.distribution() for name, dim in searched.items()}
    best, failed, first_error = None, 0, ""
    with pool(n_jobs, trials_on) as evaluate_all:
        done = 0  # not len(study.trials): that counts a grid's enqueued trials too
        while done < trials:
            asked = [study.ask(distributions) for _ in range(min(n_jobs, trials - done))]
            done += len(asked)
            started = int(time.time() * 1000)
            built, results = {}, {}
            for trial in asked:
                try:
                    built[trial.number] = build(
                        table, spec, hyperparams.build(spec, trial.params, seed), X)
                except TrackfitError as exc:
                    results[trial.number] = (None, str(exc), 0.0)
            tasks = [(model, X, y, cv) for model in built.values()]
            results.update(zip(built, evaluate_all(tasks, trials - done)))
            ended = int(time.time() * 1000)
            for trial in asked:
                metrics, error, _ = results[trial.number]
                if error:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    failed += 1
                    first_error = first_error or error
                else:
                    study.tell(trial, metrics[metric])
                    if study.best_trial.number == trial.number:
                        best = (trial.number, trial.params, metrics)
                if record:
                    record(trial.number, trial.params, metrics, error, started, ended)
            if progress:
                progress.update(done, "" if best is None else
                                f"{metric} {best[2][metric]:.4f} (trial {best[0]})")
    if best is None:
        raise EstimatorError(f"all {trials} trials failed; the first: {first_error}")
    return best, failed


def need(trials_on):
    """Optuna, and for ``trials_on`` Spark and joblibspark, installed: checked before any
    run, so nothing is half-written without them."""
    optional("optuna", "tune", "tune")
    engines.choose(trials_on).check_trials()


def plan(estimator, space, trials, search, n_jobs, how, metric):
    """(spec, searched space, trials, n_jobs) of a tune, every value checked: ``space`` the
    ``-P space=`` text (empty: the estimator's own); ``n_jobs`` 0 is one worker per core
    this process may use; a grid's trials are at most its points."""
    if search not in SEARCHES:
        raise UsageError(f"unknown search '{search}'", fix=f"use one of {', '.join(SEARCHES)}")
    if trials < 1:
        raise UsageError(f"trials must be at least 1, got {trials}")
    n_jobs = min(workers(n_jobs), trials)
    if how.cv < 2:
        raise UsageError(f"tune scores trials by cross-validation: cv must be at least "
                            f"2 folds, got {how.cv}")
    if metric not in METRICS:
        raise UsageError(f"tune ranks trials by a CV metric; metric must be one of "
                            f"{', '.join(METRICS)}, got '{metric}'")
    how.check()
    spec = plugins.catalogue().get(estimator)
    searched = spacemod.parse(space) if space.strip() else spec.search_space
    check(spec, searched)
    if search == "grid":  # a grid of ranges fails here, before any work
        trials = len(grid_points(searched, trials, how.random_state))
    return spec, searched, trials, n_jobs


def search_logged(run, estimator, spec, searched, search, trials, n_jobs, trials_on, X, y,
                  how, metric, table):
    """:func:`search_study` with each trial a child run of the tune ``run``; returns the
    best trial (number, params, CV metrics), the failed count and the best trial's run id."""
    trial_log = TrialLog(run, estimator)
    try:
        best, failed = search_study(spec, searched, search, trials, n_jobs, trials_on, X, y,
                                    how.cv, metric, how.random_state, trial_log.record,
                                    Progress("tune", trials, "trials"), table)
    finally:  # every finished trial is written, also after an error or Ctrl-C
        trial_log.close()
    return best, failed, trial_log.run_ids[best[0]]


def tag_refit(run_id, tags):
    """Tags on the refitted training run ``run_id``, written by id (it has ended)."""
    from mlflow.entities import RunTag

    client().log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
