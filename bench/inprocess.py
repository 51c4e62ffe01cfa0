"""Figures measured inside one process, printed as JSON: predict throughput, fit times.

    python bench/inprocess.py predict DATA REPEAT   (needs models:/model-diabetes@champion)
    python bench/inprocess.py fit REPEAT NAMES   (NAMES: linear,tree,...)
    python bench/inprocess.py tune TRIALS REPEAT
    python bench/inprocess.py register REPEAT
"""

import json
import statistics
import sys
import time


def predict(data, repeat):
    """What trackfit predict calls against the bare estimator, A B A B; pyfunc's own too.

    Each gets the rows as it would: trackfit the frame its read makes, pyfunc the same
    frame, the bare estimator a ready numpy array.
    """
    import mlflow

    from trackfit.engines import pandas as datamod, scoring
    from trackfit.engines.source import parse
    from trackfit import trust

    uri = "models:/model-diabetes@champion"
    frame = scoring.block(datamod.load(parse(data), require_target=False), datamod.FEATURES)  # as predict lays out
    array = datamod.load(parse(data), require_target=False)[datamod.FEATURES].to_numpy()
    with trust.checked(uri) as folder:
        trackfit = scoring.predictor(folder)
    pyfunc = mlflow.pyfunc.load_model(uri)
    bare = mlflow.sklearn.load_model(uri)
    times = {"trackfit": [], "bare": [], "pyfunc": []}
    for _ in range(repeat):
        for name, call in (("trackfit", lambda: trackfit(frame)),
                           ("bare", lambda: bare.predict(array)),
                           ("pyfunc", lambda: pyfunc.predict(frame))):
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    result = {"rows": len(frame)}
    for name in ("trackfit", "pyfunc"):
        result[f"{name}_seconds"] = statistics.median(times[name])
        result[f"{name}_ratio"] = statistics.median(
            b / t for t, b in zip(times[name], times["bare"]))
    result["bare_seconds"] = statistics.median(times["bare"])
    return result


def fit(repeat, names):
    """The built-in estimators ``names`` trained ``repeat`` times, round-robin; fit times as
    compare shows them in its leaderboard (fit_seconds, tag trackfit.fit_seconds)."""
    from trackfit.entrypoints.compare import compare
    from trackfit.entrypoints.train import train

    for _ in range(repeat):
        for name in names:
            train(name, cv=0)
    table = compare(max_results=len(names) * repeat)["leaderboard"]
    medians = table.groupby("estimator")["fit_seconds"].median()
    return {"fit_seconds": {name: float(medians[name]) for name in names},
            "leaderboard_columns": list(table.columns)}


def tune(trials, repeat):
    """The tune step's study of ``tree`` (5-fold CV, lab data), with its trials logged as
    child runs and without logging, interleaved, for n_jobs 1 and the default (one worker
    per core): seconds of each. The store opened as every command opens it."""
    import mlflow
    from sklearn.model_selection import train_test_split

    from trackfit.engines import pandas as datamod
    from trackfit.engines.source import parse
    from trackfit.estimators import plugins
    from trackfit.fitting.pool import workers
    from trackfit.fitting.tuning import TrialLog, search_study
    from trackfit.tracking import store

    store.prepare()
    default = workers(0)

    spec = plugins.catalogue().get("tree")
    frame = datamod.load(parse("diabetes"))
    X, _, y, _ = train_test_split(frame[datamod.FEATURES], frame[datamod.TARGET],
                                  test_size=0.3, random_state=0)
    times = {}
    for _ in range(repeat):
        for key, n_jobs in (("1", 1), ("default", default)):
            for logged in (True, False):
                with mlflow.start_run() as parent:
                    trial_log = TrialLog(parent, "tree") if logged else None
                    started = time.perf_counter()
                    search_study(spec, spec.search_space, "tpe", trials, n_jobs, "", X, y, 5,
                                 "cv_r2_score", 0, trial_log and trial_log.record)
                    if trial_log:
                        trial_log.close()
                    seconds = time.perf_counter() - started
                times.setdefault(f"{key}_{'logged' if logged else 'bare'}", []).append(seconds)
    result = {f"seconds_{k}": statistics.median(v) for k, v in times.items()}
    result["default_n_jobs"] = default
    for key in ("1", "default"):
        result[f"logging_share_{key}"] = statistics.median(
            1 - b / a for a, b in zip(times[f"{key}_logged"], times[f"{key}_bare"]))
    child_runs = mlflow.search_runs(filter_string="tags.`trackfit.step` = 'trial'",
                                    max_results=100_000)
    result["trials"], result["child_runs"] = trials, len(child_runs)
    result["expected_child_runs"] = trials * 2 * repeat
    return result


def register(repeat):
    """The lab's register with the exam (the pinned rows read again and hashed, the
    challenger's and the champion's training rows checked for exam rows) against the same
    register as it was before the exam (the challenger's held-out rows rebuilt, no pin, no
    leak check), A B A B in one process and store: seconds of each.

    The store holds the lab's runs (linear, tree) and a ridge champion (alpha=1), its exam
    pinned by its first register; each register judges linear against ridge and refuses it
    (min_improvement 0.01), so every round judges the same models on the same rows."""
    from trackfit.engines.source import FEATURES, TARGET
    from trackfit.entrypoints.register import register as step
    from trackfit.entrypoints.train import train
    from trackfit.promotion import exam, gate
    from trackfit.promotion import policy
    from trackfit.tracking import store
    from trackfit.tracking.runs import client

    store.prepare()
    train("ridge", {"alpha": 1.0}, cv=0)
    step()
    train("linear", cv=0)
    train("tree", cv=0)
    with_exam = (policy._examined, exam.shared, policy._champion_shared)

    def before(model_name, given, best, loaded):  # what the gate read before the exam
        found = gate.rebuilt(client().get_run(best.run_id), loaded)
        pinned = exam.Exam(found.data, "", found.digest, TARGET, len(found.y_test),
                           tuple(FEATURES))
        return pinned, exam.Rows(found.X_test, found.y_test, None), found

    without = (before, lambda *args: 0, lambda *args: (None, ""))
    times = {"with": [], "without": []}
    for _ in range(repeat):
        for name, parts in (("with", with_exam), ("without", without)):
            policy._examined, exam.shared, policy._champion_shared = parts
            started = time.perf_counter()
            assert not step(min_improvement=0.01)["accepted"]
            times[name].append(time.perf_counter() - started)
    policy._examined, exam.shared, policy._champion_shared = with_exam
    result = {f"seconds_{k}": statistics.median(v) for k, v in times.items()}
    result["ratio"] = statistics.median(a / b for a, b in zip(times["with"], times["without"]))
    return result


if __name__ == "__main__":
    import contextlib
    import io
    import warnings

    warnings.simplefilter("ignore")  # the bare estimator on an array: "no feature names"
    with contextlib.redirect_stdout(io.StringIO()):
        if sys.argv[1] == "predict":
            result = predict(sys.argv[2], int(sys.argv[3]))
        elif sys.argv[1] == "tune":
            result = tune(int(sys.argv[2]), int(sys.argv[3]))
        elif sys.argv[1] == "register":
            result = register(int(sys.argv[2]))
        else:
            result = fit(int(sys.argv[2]), sys.argv[3].split(","))
    print(json.dumps(result))
