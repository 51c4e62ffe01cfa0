"""The trackfit benchmark: every figure of the speed issue, as a table and in BENCHMARKS.md.

    python bench/run.py                  # the full benchmark (make bench), ~20 min
    python bench/run.py --smoke          # every figure once, small sizes: it still works
    python bench/run.py --only 12        # Spark against pandas predict (needs the spark extra)

Each figure is the median of --repeat runs; commands compared with each other run
interleaved (A B A B ...) in one invocation, each run in a fresh process, working
directory and SQLite store. Ratios are medians of the per-round ratios.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import (MLFLOW, PROJECT, PYTHON, fresh, interleaved, median, ratios,  # noqa: E402
                     run, run_tree, warm)

OUTPUT = PROJECT / "BENCHMARKS.md"
OWNED = ("## Environment", "## Figures", "## Runs")
PACKAGES = ["mlflow", "scikit-learn", "numpy", "scipy", "pandas", "pyarrow", "matplotlib",
            "pluggy", "skops"]
TRACKFIT = [PYTHON, "-m", "trackfit"]
BUILT_IN = ["linear", "tree", "ridge", "lasso", "elasticnet", "knn", "svr", "forest",
            "extra-trees", "gbr", "hist-gb", "dummy"]


def fixture(*args):
    """What bench/fixtures.py makes, made in a child process; returns what it prints."""
    folder = fresh()
    try:
        _, _, out, _ = run([PYTHON, str(PROJECT / "bench" / "fixtures.py"), *map(str, args)],
                           folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out.strip().splitlines()[-1]


def environment():
    """Machine and versions, one line each."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor()) \
        if os.path.exists("/proc/cpuinfo") else platform.processor()
    memory = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo")
                   if line.startswith("MemTotal")), 0) if os.path.exists("/proc/meminfo") else 0
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT,
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in PACKAGES)
    return [
        f"date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
        + (f", trackfit commit {commit}" if commit else ""),
        f"machine: {platform.machine()}, {cpu}, {os.cpu_count()} cores, {memory} MB, "
        f"{platform.system()} {platform.release()}, load average at start "
        + " ".join(f"{v:.1f}" for v in os.getloadavg()),
        f"python {platform.python_version()}; {versions}",
    ]


def shown(command):
    """The command as a user types it: no interpreter, project or scratch paths."""
    text = " ".join(str(c) for c in command).replace(PYTHON, "python").replace(MLFLOW, "mlflow") \
        .replace(str(PROJECT) + "/", "").replace(str(PROJECT), ".")
    peer = os.environ.get("TRACKFIT_PYCARET_PYTHON")
    if peer:  # wherever the PyCaret venv is, as BENCHMARKS.md tells how to make it
        text = text.replace(peer, "venv-pycaret/bin/python")
    return re.sub(r"\S*/(diabetes-\d+\.parquet|diamonds\.csv)", r"\1", text)


class Report:
    def __init__(self):
        self.figures, self.runs = [], []

    def figure(self, number, name, value, target, met, command):
        verdict = "-" if met is None else ("yes" if met else "NO")
        self.figures.append((number, name, value, target, verdict, command))
        print(f"{number:>3}  {name:<46} {value:<34} {target:<10} {verdict}", flush=True)

    def unpeered(self, number, name, why, value, target, command):
        """A figure whose peer could not run here: our side alone, no verdict."""
        self.figure(number, f"{name} ({why}: peer not run)", value, target, None, command)

    def samples(self, results, commands):
        for name, samples in results.items():
            self.runs.append((name, median(samples), median(samples, 1), len(samples),
                              shown(commands[name]), median(samples, 2)))


def lab(report, repeat):
    """Figures 1 and 2: main against the notebook's cells and the plain-MLflow floor."""
    commands = {"trackfit main": TRACKFIT + ["main"],
                "lab notebook": [PYTHON, "bench/lab_notebook.py"],
                "plain-MLflow floor": [PYTHON, "bench/lab_floor.py"]}
    commands = {k: [str(PROJECT / c) if c.startswith("bench/") else c for c in v]
                for k, v in commands.items()}
    results = interleaved(commands, repeat)
    report.samples(results, commands)
    main, notebook, floor = (results[k] for k in commands)
    for number, name, other, target, command in (
            (1, "main / lab notebook (fresh SQLite store)", notebook, 0.5,
             "python -m trackfit main; python bench/lab_notebook.py"),
            (2, "main / plain-MLflow floor", floor, 1.0,
             "python -m trackfit main; python bench/lab_floor.py")):
        wall, cpu = ratios(main, other), ratios(main, other, 2)
        report.figure(number, name,
                      f"{wall:.2f} wall ({median(main):.1f} s / {median(other):.1f} s); "
                      f"{cpu:.2f} CPU ({median(main, 2):.1f} s / {median(other, 2):.1f} s)",
                      f"<= {target}", wall <= target, command)


def listing(report, repeat):
    """Figure 3: listing estimators, and what it imports."""
    commands = {"trackfit estimators": TRACKFIT + ["estimators"]}
    results = interleaved(commands, repeat)
    report.samples(results, commands)
    folder = fresh()
    run([PYTHON, "-X", "importtime", "-m", "trackfit", "estimators"], folder)
    imported = Path(folder, "stderr.txt").read_text()
    shutil.rmtree(folder, ignore_errors=True)
    heavy = sorted({m for m in ("sklearn", "mlflow", "pandas", "matplotlib")
                    if re.search(rf"\|\s+{m}(\.|$)", imported, re.M)})
    seconds = median(results["trackfit estimators"])
    report.figure(3, "estimators: wall time; heavy imports",
                  f"{seconds:.2f} s; imports: {', '.join(heavy) or 'none'}",
                  "< 1 s, none", seconds < 1 and not heavy, "python -m trackfit estimators")


def mlflow_run(report, repeat):
    """Figure 4: what `mlflow run` adds to a training run."""
    commands = {"mlflow run -e train": [MLFLOW, "run", str(PROJECT), "-e", "train", "-P",
                                        "estimator=tree", "--env-manager", "local",
                                        "--experiment-name", "experiment-diabetes"],
                "trackfit train": TRACKFIT + ["train", "--estimator", "tree"]}
    results = interleaved(commands, repeat)
    report.samples(results, commands)
    a, b = results.values()
    extra = median([(x[0] - y[0],) for x, y in zip(a, b)])
    report.figure(4, "mlflow run -e train over python -m trackfit train",
                  f"+{extra:.1f} s ({median(a):.1f} s / {median(b):.1f} s)", "reported", None,
                  "mlflow run . -e train -P estimator=tree --env-manager local")


def compare(report, repeat, count, lab):
    """Figure 5: compare over an experiment of ``count`` training runs, copies of those
    the ``lab`` store holds."""
    store = Path(fixture("store", count, lab))
    commands = {f"compare over {count} runs": TRACKFIT + ["compare"]}
    results = interleaved(commands, repeat, template=store)
    shutil.rmtree(store.parent, ignore_errors=True)
    report.samples(results, commands)
    samples = results[f"compare over {count} runs"]
    report.figure(5, f"compare over {count:,} training runs",
                  f"{median(samples):.1f} s, peak {median(samples, 1):.0f} MB", "<= 5 s",
                  median(samples) <= 5, "python -m trackfit compare")


def trained():
    """The store of one ``main``, its models beside it: what figures 6, 11 and 12 predict
    with and figure 5 copies, each in a copy (``fresh(store)``); the caller removes its
    folder."""
    folder = fresh()
    run(TRACKFIT + ["main"], folder)
    return Path(folder) / "mlflow.db"


def predict(report, repeat, rows, data, store):
    """Figure 6: pyfunc predict throughput against the bare estimator's."""
    folder = fresh(store)
    _, _, out, _ = run([PYTHON, str(PROJECT / "bench/inprocess.py"), "predict", str(data),
                     str(max(repeat, 5))], folder)
    result = json.loads(out.strip().splitlines()[-1])
    command = TRACKFIT + ["predict", "--data", str(data), "--output", "predictions.parquet"]
    seconds, peak, _, cpu = run(command, folder)
    shutil.rmtree(folder, ignore_errors=True)
    report.runs.append((f"predict {rows} rows", seconds, peak, 1, shown(command), cpu))
    ratio = result["trackfit_ratio"]
    report.figure(6, f"predict {rows:,} rows: trackfit / bare throughput",
                  f"{ratio:.2f} ({rows / result['trackfit_seconds'] / 1e6:.1f} M rows/s"
                  f" / {rows / result['bare_seconds'] / 1e6:.1f} M rows/s; pyfunc alone "
                  f"{result['pyfunc_ratio']:.2f})", ">= 0.8",
                  ratio >= 0.8, "python bench/inprocess.py predict DATA 5")


def predict_command(report, repeat, rows, data, store):
    """Figure 11: the whole predict command, parquet to parquet, against the hand-written floor."""
    output = ["--output", "predictions.parquet"]
    commands = {f"predict {rows} rows, parquet to parquet":
                TRACKFIT + ["predict", "--data", str(data)] + output,
                f"predict floor {rows} rows":
                [PYTHON, str(PROJECT / "bench/predict_floor.py"), str(data), "predictions.parquet"]}
    results = interleaved(commands, repeat, template=store)
    report.samples(results, commands)
    trackfit, floor = results.values()
    wall, cpu = ratios(trackfit, floor), ratios(trackfit, floor, 2)
    report.figure(11, f"predict {rows:,} rows parquet->parquet / floor",
                  f"{wall:.2f} wall ({median(trackfit):.1f} s / {median(floor):.1f} s); "
                  f"{cpu:.2f} CPU", "<= 1.1", wall <= 1.1,
                  "python -m trackfit predict; python bench/predict_floor.py")


def train_big(report, repeat, rows, data, frame_mb):
    """Figure 7: train (linear) on many rows: wall time, and peak memory over the lab's."""
    commands = {f"train linear {rows} rows": TRACKFIT + ["train", "--data", str(data)],
                "train linear lab data": TRACKFIT + ["train"]}
    results = interleaved(commands, repeat)
    report.samples(results, commands)
    big, small = results.values()
    extra = median([(x[1] - y[1],) for x, y in zip(big, small)])
    report.figure(7, f"train linear, {rows:,} rows ({frame_mb:.0f} MB frame)",
                  f"{median(big):.1f} s, peak +{extra:.0f} MB = {extra / frame_mb:.1f}x frame",
                  "<= 3x", extra <= 3 * frame_mb, f"python -m trackfit train --data {rows}.parquet")


def fit_times(report, repeat, names):
    """Figure 8: fit time per built-in estimator, read back from compare's leaderboard."""
    folder = fresh()
    _, _, out, _ = run([PYTHON, str(PROJECT / "bench/inprocess.py"), "fit", str(repeat),
                        ",".join(names)], folder)
    shutil.rmtree(folder, ignore_errors=True)
    result = json.loads(out.strip().splitlines()[-1])
    shown_in = "fit_seconds" in result["leaderboard_columns"]
    times = ", ".join(f"{k} {v * 1000:.1f}" for k, v in result["fit_seconds"].items())
    report.figure(8, "fit time per estimator, ms (compare's fit_seconds)", times,
                  "in leaderboard", shown_in,
                  f"python bench/inprocess.py fit 5 <the {len(names)}>")


def tune(report, repeat, trials):
    """Figure 9: ``tune`` of tree, ``trials`` trials, 5-fold CV, against its real peer: the
    same Optuna study tracked with optuna-integration's MLflowCallback and the best refitted
    and logged (bench/optuna_peer.py), whole processes, at n_jobs=1 and at each one's
    default (trackfit: one trial per core; Optuna: one at a time). The study with nothing
    logged (in-process) stands beside them as the floor. Without optuna-integration the peer
    is not run."""
    import importlib.util

    tune = TRACKFIT + ["tune", "--estimator", "tree", "--trials", str(trials)]
    peer = [PYTHON, str(PROJECT / "bench/optuna_peer.py"), str(trials)]
    commands = {"tune tree n_jobs=1": tune + ["--n_jobs", "1"], "tune tree": tune}
    has_peer = importlib.util.find_spec("optuna_integration") is not None
    if has_peer:
        commands["optuna MLflowCallback n_jobs=1"] = peer + ["1"]
    results = interleaved(commands, repeat, own_store=["optuna MLflowCallback n_jobs=1"])
    report.samples(results, commands)
    folder = fresh()
    try:
        _, _, out, _ = run([PYTHON, str(PROJECT / "bench/inprocess.py"), "tune", str(trials),
                            "1"], folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    floor = json.loads(out.strip().splitlines()[-1])
    one, default = results["tune tree n_jobs=1"], results["tune tree"]
    bare = f"unlogged study {floor['seconds_1_bare']:.1f} s"
    name = f"tune tree, {trials} trials, 5-fold CV / Optuna + MLflowCallback"
    command = (f"python -m trackfit tune --estimator tree --trials {trials} [--n_jobs 1]; "
               f"python bench/optuna_peer.py {trials} 1")
    if not has_peer:
        report.unpeered(9, name, "no optuna-integration",
                        f"n_jobs=1 {median(one):.1f} s; default {median(default):.1f} s; {bare}",
                        "<= 0.5", command)
        return
    optuna_run = results["optuna MLflowCallback n_jobs=1"]
    worst = max(ratios(one, optuna_run), ratios(default, optuna_run))
    report.figure(9, name,
                  f"n_jobs=1 {ratios(one, optuna_run):.2f} ({median(one):.1f} s / "
                  f"{median(optuna_run):.1f} s); default {ratios(default, optuna_run):.2f} "
                  f"({median(default):.1f} s); CPU {ratios(one, optuna_run, 2):.2f}; {bare}",
                  "<= 0.5", worst <= 0.5, command)


def main_all(report, repeat, cv, names):
    """Figure 10: main over the built-ins ``names`` (all 12 but in the smoke run), ``cv``-fold
    CV, with its defaults (one worker per core) and one at a time; PyCaret's compare_models
    on the same 12 beside them when TRACKFIT_PYCARET_PYTHON names a PyCaret venv's
    interpreter (bench/pycaret_peer.py).
    """
    main = TRACKFIT + ["main", "--estimators", ",".join(names), "--cv", str(cv)]
    commands = {"main all estimators": main,
                "main all estimators n_jobs=1": main + ["--n_jobs", "1"]}
    peer = os.environ.get("TRACKFIT_PYCARET_PYTHON")
    pycaret = ["pycaret compare_models, 12 regressors",
               "pycaret compare_models, 12 regressors, leanest"]
    if peer:  # in PyCaret's own default store (./mlruns), as its users run it
        commands[pycaret[0]] = [peer, str(PROJECT / "bench/pycaret_peer.py"), str(cv or 2)]
        commands[pycaret[1]] = commands[pycaret[0]] + ["lean"]
    results = interleaved(commands, repeat, own_store=pycaret)
    report.samples(results, commands)
    default, one = (results[k] for k in list(commands)[:2])
    command = f"python -m trackfit main --estimators <the {len(names)}> --cv {cv} [--n_jobs 1]"
    if not peer:
        report.unpeered(10, f"main, {len(names)} built-ins, {cv}-fold CV", "no PyCaret venv",
                        f"default n_jobs {median(default):.1f} s; n_jobs=1 {median(one):.1f} s",
                        "<= 0.8; lean <= 1.0", command)
        return
    full, lean = results[pycaret[0]], results[pycaret[1]]
    met = ratios(default, full) <= 0.8 and ratios(one, lean) <= 1.0
    report.figure(10, f"main, {len(names)} built-ins, {cv}-fold CV / PyCaret compare_models "
                  "(its defaults; leanest)",
                  f"{ratios(default, full):.2f} ({median(default):.1f} s / {median(full):.1f} s)"
                  f", n_jobs=1 {ratios(one, full):.2f}; leanest {median(lean):.1f} s: "
                  f"{ratios(default, lean):.2f}, n_jobs=1 {ratios(one, lean):.2f} "
                  f"({median(one):.1f} s)", "<= 0.8; lean <= 1.0", met,
                  command + "; bench/pycaret_peer.py [lean]")


def spark_predict(report, repeat, sizes, scratch, store):
    """Figure 12: predict with Spark (local[2]) and with pandas, at two sizes, whole processes
    A B A B, ``repeat`` rounds (the target is a median of 3).

    The driver's peak is the trackfit process's own; the tree's adds, for Spark, the JVM
    (in local mode the driver's and the executors' both) and the Python workers. The
    driver never collects rows, so its peak should stay flat. CPU is the whole tree's (the
    driver never waits for its JVM, so its own CPU leaves the JVM out). Spark / pandas is
    the median of each round's ratio. The smoke run has one size.
    """
    measured, commands = {}, {}
    for rows in sizes:
        data = scratch / f"diabetes-{rows}.parquet"  # figures 6, 7 and 11 may have made it
        made = not data.exists()
        if made:
            fixture("synthetic", rows, data)
        for _ in range(repeat):
            for engine in ("pandas", "spark"):
                output = "predictions.parquet" if engine == "pandas" else "predictions"
                command = TRACKFIT + ["predict", "--data", str(data), "--output", output]
                if engine == "spark":
                    command += ["--spark", "local[2]"]
                folder = fresh(store)
                try:
                    sample = run_tree(command, folder, SPARK_LOCAL_IP="127.0.0.1")
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
                measured.setdefault((engine, rows), []).append(sample)
                commands[engine] = command
        for engine in ("pandas", "spark"):
            samples = measured[engine, rows]
            report.runs.append((f"predict {engine} {rows} rows", median(samples),
                                median(samples, 2), len(samples), shown(commands[engine]),
                                median(samples, 4)))
        if made:
            data.unlink()
    _spark_figure(report, measured, sizes)


def _spark_figure(report, measured, sizes):
    """Figure 12's row from ``measured`` {(engine, rows): run_tree samples}."""
    small, big = sizes[0], sizes[-1]
    spark, pandas = measured["spark", big], measured["pandas", big]
    p_big, p_small = median(spark, 1), median(measured["spark", small], 1)
    t_big, t_small = median(spark, 2), median(measured["spark", small], 2)
    growth = p_big / p_small if small != big else None
    wall, cpu = ratios(spark, pandas), ratios(spark, pandas, 4)
    speeds = "; ".join(f"pandas {rows:,}: {rows / median(measured['pandas', rows]) / 1e3:,.0f}k "
                       f"rows/s, peak {median(measured['pandas', rows], 1):,.0f} MB"
                       for rows in sizes)
    trend = (f"{growth:.2f}x the {small:,}-row {p_small:,.0f} MB; whole local[2] tree "
             f"{t_big:,.0f} MB, {t_big / t_small:.2f}x" if growth else "smoke: one size")
    report.figure(12, f"predict {big:,} rows: Spark / pandas; Spark driver peak, 1M to 10M",
                  f"Spark / pandas {wall:.2f} wall ({median(spark):.1f} s / "
                  f"{median(pandas):.1f} s), {cpu:.2f} CPU; Spark {big:,}: "
                  f"{big / median(spark) / 1e3:,.0f}k rows/s, driver peak {p_big:,.0f} MB "
                  f"({trend}); {speeds}", "<= 3x; <= 1.2x",
                  None if growth is None else wall <= 3 and growth <= 1.2,
                  f"python -m trackfit predict --data {big}.parquet --output predictions "
                  "--spark local[2]")


def exam_register(report, repeat):
    """Figure 13: the lab's register with the exam check against the same register without
    it, side by side in one process (bench/inprocess.py register)."""
    folder = fresh()
    rounds = max(repeat, 5)
    try:
        _, _, out, _ = run([PYTHON, str(PROJECT / "bench/inprocess.py"), "register",
                            str(rounds)], folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result = json.loads(out.strip().splitlines()[-1])
    ratio = result["ratio"]
    report.figure(13, "register with the exam check / without",
                  f"{ratio:.2f} ({result['seconds_with']:.2f} s / "
                  f"{result['seconds_without']:.2f} s)", "<= 1.2", ratio <= 1.2,
                  f"python bench/inprocess.py register {rounds}")


def own_table(report, repeat, rows, cv, names, scratch, smoke=False):
    """Figure 14: ``main --data diamonds.csv --target price --refit best`` over the built-ins
    ``names`` (the 10 that scale to ~54,000 rows: all but svr and dummy), ``cv``-fold CV,
    against PyCaret's ``setup(data, target)`` + ``compare_models`` over the same models with
    its defaults (bench/pycaret_peer.py table), whole processes A B A B, the peer in its
    MLflow's default store. ``main`` with refit=best does what compare_models does: every
    model cross-validated, the best by CV fitted on the whole training split; beside it,
    ``main`` as by default (refit=all: every model fitted whole and logged), not in the
    smoke run. ggplot2's diamonds, without its index column: 3 text columns, price to
    predict (bench/fixtures.py; ``rows``: a seeded sample of that many, 0: all). The best
    held-out R2 of each is read from what each prints. Without TRACKFIT_PYCARET_PYTHON,
    trackfit alone.
    """
    data = scratch / "diamonds.csv"
    made = fixture("diamonds", rows, data)
    print(f"     figure 14 data: {made}", flush=True)
    main = TRACKFIT + ["main", "--data", str(data), "--target", "price",
                       "--estimators", ",".join(names), "--cv", str(cv)]
    best_only, every = "main diamonds refit=best", "main diamonds"
    commands = {best_only: main + ["--refit", "best"]}
    if not smoke:
        commands[every] = main
    peer = os.environ.get("TRACKFIT_PYCARET_PYTHON")
    pycaret = "pycaret compare_models diamonds"
    if peer:
        commands[pycaret] = [peer, str(PROJECT / "bench/pycaret_peer.py"), str(cv),
                             "table", str(data), "price", ",".join(names)]
    results = {name: [] for name in commands}
    best = {name: [] for name in commands}
    trained = r"(?m)^train: (\S+) \(.*test_r2_score (-?[\d.]+)"  # each model fitted whole
    pattern = {best_only: trained, every: trained,
               pycaret: r"best (.+?) CV R2 .*held-out R2 (-?[\d.]+)"}
    for _ in range(repeat):
        for name, command in commands.items():
            folder = fresh()
            try:
                seconds, peak, out, cpu = run(command, folder, own_store=name == pycaret)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            results[name].append((seconds, peak, cpu))
            best[name].append(max((float(r2), model)
                                  for model, r2 in re.findall(pattern[name], out)))
    report.samples(results, commands)
    ours, ours_model = max(best[best_only])
    shape = ("synthetic " if "synthetic" in made else "") + (
        f"{rows:,} diamonds rows" if rows else "diamonds")
    command = (f"python -m trackfit main --data diamonds.csv --target price --estimators "
               f"<the {len(names)}> --cv {cv} --refit best")
    if not peer:
        report.unpeered(14, f"main refit=best on {shape}, {len(names)} built-ins, {cv}-fold "
                        "CV", "no PyCaret venv", f"held-out R2 {ours:.4f} ({ours_model}); "
                        f"{median(results[best_only]):.1f} s", "R2 >= peer - 0.005; <= 1.0",
                        command)
        return
    theirs, theirs_model = max(best[pycaret])
    wall = ratios(results[best_only], results[pycaret])
    beside = ""
    if every in results:
        beside = (f"; refit=all (every model fitted whole) "
                  f"{ratios(results[every], results[pycaret]):.2f} wall "
                  f"({median(results[every]):.1f} s), R2 {max(best[every])[0]:.4f}")
    report.figure(14, f"main refit=best on {shape}, {len(names)} built-ins, {cv}-fold CV / "
                  "PyCaret setup + compare_models",
                  f"held-out R2 {ours:.4f} ({ours_model}) vs {theirs:.4f} ({theirs_model}); "
                  f"{wall:.2f} wall ({median(results[best_only]):.1f} s / "
                  f"{median(results[pycaret]):.1f} s); "
                  f"{ratios(results[best_only], results[pycaret], 2):.2f} CPU{beside}",
                  "R2 >= peer - 0.005; <= 1.0", ours >= theirs - 0.005 and wall <= 1.0,
                  command + f"; bench/pycaret_peer.py {cv} table diamonds.csv price")


def _rows(text, section):
    """The table rows of ``section`` in an earlier BENCHMARKS.md, by their first cell."""
    match = re.search(rf"(?ms)^{section}\n(.*?)(?=^## |\Z)", text)
    rows = {}
    for line in re.findall(r"(?m)^\|.*\|$", match.group(1) if match else ""):
        key = line.split("|")[1].strip()
        if key not in ("#", "Run") and not key.startswith("-"):
            rows[key] = line
    return rows


def markdown(report, header, args, earlier=""):
    """The generated sections; rows of figures not measured this time are kept from before."""
    figures = {str(n): f"| {n} | {name} | {value} | {target} | {met} | `{command}` |"
               for n, name, value, target, met, command in report.figures}
    runs = {name: f"| {name} | {seconds:.2f} | {cpu:.2f} | {peak:.0f} | {n} | `{command}` |"
            for name, seconds, peak, n, command, cpu in report.runs}
    figures = {**_rows(earlier, "## Figures"), **figures}
    older = {k: re.sub(r"^(\| [^|]+ \| [^|]+ \|)", r"\1 - |", v) if v.count("|") == 6 else v
             for k, v in _rows(earlier, "## Runs").items()}  # rows from before CPU time
    runs = {**older, **runs}
    lines = ["## Environment", "", *[f"- {line}" for line in header],
             f"- `python bench/run.py{' --smoke' if args.smoke else ''} --repeat {args.repeat}"
             f"{' --only ' + args.only if args.only else ''}`: each figure the median of "
             f"{args.repeat} runs, compared commands interleaved",
             "", "## Figures", "",
             "| # | Figure | Measured | Target | Met | Command |", "|---|---|---|---|---|---|"]
    lines += [figures[key] for key in sorted(figures, key=int)]
    lines += ["", "## Runs", "",
              "Median wall time, CPU time (user + system) and peak memory of each command.",
              "", "| Run | Seconds | CPU s | Peak MB | Runs | Command |",
              "|---|---|---|---|---|---|"]
    lines += list(runs.values())
    return "\n".join(lines) + "\n"


def write(path, report, header, args):
    """BENCHMARKS.md: the generated sections first, then every section someone else wrote."""
    earlier = path.read_text() if path.exists() else ""
    sections = re.split(r"(?m)^(?=## )", earlier)
    kept = [s.rstrip() + "\n" for s in sections[1:] if not s.startswith(OWNED)]
    title = "# Benchmarks\n\nProduced by `make bench` (`python bench/run.py`).\n\n"
    generated = markdown(report, header, args, earlier if args.only else "")
    path.write_text(title + generated + "".join("\n" + s for s in kept))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="each figure once, small sizes, Python commands forked from one "
                             "warm process: it still works; its times mean nothing")
    parser.add_argument("--repeat", type=int, help="runs per figure (5; smoke: 1)")
    parser.add_argument("--output", help="Markdown file (BENCHMARKS.md; smoke: none)")
    parser.add_argument("--only", help="comma-separated figure numbers, e.g. 1,5")
    args = parser.parse_args(argv)
    args.repeat = args.repeat or (1 if args.smoke else 5)
    output = Path(args.output) if args.output else (None if args.smoke else OUTPUT)
    # The smoke run proves each figure is still produced, not its value: the smallest sizes.
    rows = 2_000 if args.smoke else 1_000_000
    # The smoke run: a linear model, a tree and the one built-in with a thread team of its own.
    estimators = ["linear", "tree", "hist-gb"] if args.smoke else BUILT_IN
    only = {int(n) for n in args.only.split(",")} if args.only else set(range(1, 15))
    if args.smoke:
        warm()  # each command's imports once, not once a command (measure.warm)
    header = environment()
    print("\n".join(header), flush=True)
    report = Report()
    scratch = Path(fresh())
    store = trained() if only & {5, 6, 11, 12} else None
    try:
        data, frame_mb = scratch / f"diabetes-{rows}.parquet", 0.0
        big = scratch / f"diabetes-{10 * rows}.parquet"
        if only & {6, 7}:
            frame_mb = float(fixture("synthetic", rows, data))
        if 11 in only:
            fixture("synthetic", 10 * rows, big)
        steps = {1: lambda: lab(report, args.repeat),
                 3: lambda: listing(report, args.repeat),
                 4: lambda: mlflow_run(report, args.repeat),
                 5: lambda: compare(report, args.repeat, 20 if args.smoke else 10_000, store),
                 6: lambda: predict(report, args.repeat, rows, data, store),
                 7: lambda: train_big(report, args.repeat, rows, data, frame_mb),
                 8: lambda: fit_times(report, args.repeat, estimators),
                 9: lambda: tune(report, args.repeat, 3 if args.smoke else 100),
                 10: lambda: main_all(report, args.repeat, 0 if args.smoke else 5, estimators),
                 11: lambda: predict_command(report, args.repeat, 10 * rows, big, store),
                 12: lambda: spark_predict(report, args.repeat, (rows,) if args.smoke
                                          else (1_000_000, 10_000_000), scratch, store),
                 13: lambda: exam_register(report, args.repeat),
                 14: lambda: own_table(report, args.repeat, 1_000 if args.smoke else 0,
                                       2 if args.smoke else 5,
                                       [n for n in estimators if n not in ("svr", "dummy")],
                                       scratch, args.smoke)}
        for number, step in steps.items():
            if number in only or (number == 1 and 2 in only):
                step()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if store:
            shutil.rmtree(store.parent, ignore_errors=True)
    if output:
        write(output, report, header, args)
        print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
