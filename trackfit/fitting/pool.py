"""Where tuning trials run: this process, worker processes of this machine, or Spark executors.

A trial's work, cross-validating one estimator on the training split, is a plain function of
picklable values; the tracking store is only ever written by the process that asked for it.
"""

import contextlib
import os
import time

from .. import UsageError, engines

ALL_CORES = 0  # n_jobs=0: one worker per core this process may use


def cores():
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


def workers(n_jobs):
    """How many workers ``n_jobs`` asks for: 0 is :func:`cores`; below 0 is an error."""

    if n_jobs == ALL_CORES:
        return cores()
    if n_jobs < 0:
        raise UsageError(f"n_jobs must be 0 (all the cores this process may use) or a "
                         f"number of workers, at least 1; got {n_jobs}")
    return n_jobs


def evaluate(estimator, X, y, folds):
    """One trial: (CV metrics, "", seconds), or (None, the reason it failed, seconds)."""
    from .metrics import cv_scores

    started = time.perf_counter()
    try:
        metrics, _ = cv_scores(estimator, X, y, folds, error_score="raise")
    except Exception as exc:  # the estimator's own error is the trial's result
        text = str(exc).strip().splitlines()
        return None, f"{type(exc).__name__}: {text[0] if text else ''}".strip(), \
            time.perf_counter() - started
    return metrics, "", time.perf_counter() - started


# A worker process costs about this much to start (an interpreter importing scikit-learn):
# trials run here until the workers would save more than that.
WORKER_START_SECONDS = 3.0


@contextlib.contextmanager
def pool(n_jobs=1, trials_on=""):
    """A ``run(tasks)`` that evaluates [(estimator, X, y, folds), ...], results in order.

    Trials run in ``n_jobs`` worker processes of this machine (joblib's loky, kept for the
    whole study) once they are worth starting: the first batches run in this process, and
    the workers start only when the trials left, at the speed measured, would take longer
    here than :data:`WORKER_START_SECONDS` more than on the workers (100 tree trials of
    8 ms never are; forest trials of a second are). Where a trial runs never changes which
    trials the study asks for. With n_jobs=1 they all run in this process (a worker of its
    own made a tree trial 32 ms instead of 23: the round trip costs more than writing the
    trial beside it saves).
    trials_on=<a Spark master>: up to n_jobs trials at once on the cluster's executors,
    through joblibspark (the engine's ``trials``).
    """
    if trials_on or n_jobs == 1:
        with _parallel(n_jobs, trials_on) as run:
            yield run
        return
    with contextlib.ExitStack() as stack:
        state = {"run": None, "batches": 0}

        def run(tasks, left=0):
            if state["run"] is not None:
                return state["run"](tasks)
            started = time.thread_time()  # this thread's CPU: steady on a busy machine
            results = [evaluate(*task) for task in tasks]
            state["batches"] += 1  # the first batch also pays the first imports: not judged
            seconds = (time.thread_time() - started) / max(len(results), 1)
            if state["batches"] > 1 and left * seconds * (1 - 1 / n_jobs) > WORKER_START_SECONDS:
                state["run"] = stack.enter_context(_parallel(n_jobs))
            return results

        yield run


@contextlib.contextmanager
def _parallel(n_jobs, trials_on=""):
    import joblib

    backend = engines.choose(trials_on).trials()  # "loky" here, "spark" on a cluster
    # One thread per trial: a trial's OpenMP or BLAS team beside the others only slows it.
    threads = {"inner_max_num_threads": 1} if backend == "loky" else {}
    with joblib.parallel_backend(backend, n_jobs=n_jobs, **threads):
        with joblib.Parallel(n_jobs=n_jobs) as parallel:
            yield lambda tasks, left=None: parallel(
                joblib.delayed(evaluate)(*task) for task in tasks)
