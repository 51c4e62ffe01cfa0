"""Figures measured inside one process, printed as JSON: predict throughput, fit times.

    python bench/inprocess.py predict DATA REPEAT   (needs models:/model-diabetes@champion)
    python bench/inprocess.py fit REPEAT
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

    from trackfit import data as datamod, scoring
    from trackfit.entrypoints.predict import predictor

    uri = "models:/model-diabetes@champion"
    frame = scoring.read(data)[datamod.FEATURES]  # what trackfit predict reads
    array = datamod.load(data, require_target=False)[datamod.FEATURES].to_numpy()
    trackfit = predictor(uri)
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


def fit(repeat):
    """Every built-in estimator trained ``repeat`` times, round-robin; fit times as compare
    shows them in its leaderboard (fit_seconds, tag trackfit.fit_seconds)."""
    from trackfit import plugins
    from trackfit.entrypoints.compare import compare
    from trackfit.entrypoints.train import train

    names = [s.name for s in plugins.catalogue().specs if s.plugin == "scikit_learn"]
    for _ in range(repeat):
        for name in names:
            train(name, cv=0)
    table = compare(max_results=len(names) * repeat)["leaderboard"]
    medians = table.groupby("estimator")["fit_seconds"].median()
    return {"fit_seconds": {name: float(medians[name]) for name in names},
            "leaderboard_columns": list(table.columns)}


if __name__ == "__main__":
    import contextlib
    import io
    import warnings

    warnings.simplefilter("ignore")  # the bare estimator on an array: "no feature names"
    with contextlib.redirect_stdout(io.StringIO()):
        if sys.argv[1] == "predict":
            result = predict(sys.argv[2], int(sys.argv[3]))
        else:
            result = fit(int(sys.argv[2]))
    print(json.dumps(result))
