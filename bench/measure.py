"""Run commands in fresh working directories and stores; wall time and peak memory."""

import atexit
import importlib
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
EXPERIMENT = "experiment-diabetes"
MLFLOW = str(Path(PYTHON).with_name("mlflow"))

# What trackfit's commands and the bench scripts import, skops first as the command line has
# it (trackfit.cli.skops_first).
IMPORTS = ["skops.io", "mlflow", "mlflow.cli", "mlflow.sklearn", "mlflow.pyfunc",
           "mlflow.store.tracking.sqlalchemy_store",
           "mlflow.store.model_registry.sqlalchemy_store", "sklearn.ensemble",
           "sklearn.linear_model", "sklearn.tree", "pandas", "pyarrow.parquet", "git",
           "trackfit.cli", "trackfit.entrypoints.main", "trackfit.entrypoints.predict"]
_warm = []


def warm():
    """The smoke run's way: make IMPORTS here once, and start each later Python command
    (``python -m MODULE``, ``python SCRIPT``, ``mlflow``) as a fork of this process rather
    than a new interpreter: a process of its own, its exit code and output as before, less
    its seconds of imports. Its times then mean nothing; the smoke run asserts none."""
    for name in IMPORTS:
        importlib.import_module(name)
    _warm.append(True)


def forkable(command):
    return bool(_warm) and str(command[0]) in (PYTHON, MLFLOW) and str(command[1]) != "-X"


def become(command, folder, env, out, err):
    """In a fork of a warm process: run ``command`` as its new process would, in ``folder``
    with ``env``, writing to ``out`` and ``err``; exit with its code, atexit included."""
    code = 1
    try:
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(env)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        args = [str(c) for c in command]
        try:
            if args[0] == MLFLOW:
                from mlflow.cli import cli

                sys.argv = args
                cli.main(args=args[1:], prog_name="mlflow")
            elif args[1] == "-m":
                sys.argv, sys.path[0] = args[2:], folder
                runpy.run_module(args[2], run_name="__main__", alter_sys=True)
            else:
                sys.argv, sys.path[0] = args[1:], str(Path(args[1]).parent)
                runpy.run_path(args[1], run_name="__main__")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
            if not isinstance(exc.code, (int, type(None))):
                print(exc.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - what an uncaught exception does to a process
            traceback.print_exc()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def env_for(folder, own_store=False, **extra):
    """A user's environment with a fresh SQLite store in ``folder``; with ``own_store``, no
    store named: the command's MLflow uses its own default (a peer run as its users run it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    if not own_store:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(folder) / 'mlflow.db'}"
    env.update(MLFLOW_EXPERIMENT_NAME=EXPERIMENT, MPLBACKEND="Agg",
               PYTHONPATH=str(PROJECT), **extra)
    env["PATH"] = os.pathsep.join([str(Path(PYTHON).parent), env.get("PATH", "")])
    return env


def run(command, folder, check=True, own_store=False, **extra):
    """Run ``command`` in ``folder``; returns (seconds, peak RSS in MB, stdout, CPU seconds)."""
    started = time.perf_counter()
    env = env_for(folder, own_store, **extra)
    with open(Path(folder) / "stdout.txt", "w") as out, open(Path(folder) / "stderr.txt", "w") as err:
        process = None
        if forkable(command):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                become(command, str(folder), env, out, err)
        else:
            process = subprocess.Popen(command, cwd=folder, env=env, stdout=out, stderr=err)
            pid = process.pid
        _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    returncode = os.waitstatus_to_exitcode(status)
    if process:
        process.returncode = returncode
    if check and returncode:
        tail = (Path(folder) / "stderr.txt").read_text()[-2000:]
        raise RuntimeError(f"{' '.join(map(str, command))} failed in {folder}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime  # user + system: steadier than wall on a busy machine
    return seconds, usage.ru_maxrss / 1024, (Path(folder) / "stdout.txt").read_text(), cpu


def fresh(template=None):
    """A new working directory, holding a copy of ``template`` store if given."""
    folder = tempfile.mkdtemp(prefix="trackfit-bench-")
    if template:
        shutil.copy(template, Path(folder) / "mlflow.db")
    return folder


def interleaved(commands, repeat, template=None, own_store=()):
    """Each command ``repeat`` times, A B A B ..., each in a fresh folder and store; those
    named in ``own_store`` in a fresh folder with their MLflow's default store.

    Returns {name: [(seconds, peak_mb, cpu_seconds), ...]}.
    """
    results = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            folder = fresh(template)
            try:
                seconds, peak, _, cpu = run(command, folder, own_store=name in own_store)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            results[name].append((seconds, peak, cpu))
    return results


def median(samples, index=0):
    return statistics.median(s[index] for s in samples)


def ratios(a, b, index=0):
    """Median of the per-round ratios a/b: each round's pair ran back to back."""
    return statistics.median(x[index] / y[index] for x, y in zip(a, b))


def tree_rss(root):
    """Resident memory in bytes of process ``root`` and of it with all its descendants, and
    each descendant's own CPU seconds so far ({pid: seconds})."""
    children, rss, cpu = {}, {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))  # fields[1]: ppid
        rss[int(entry)] = int(fields[21])  # rss in pages
        cpu[int(entry)] = int(fields[11]) + int(fields[12])  # utime + stime, in ticks
    total, todo, below = 0, [root], {}
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
        if pid != root and pid in cpu:
            below[pid] = cpu[pid] / os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    return rss.get(root, 0) * page, total * page, below


def run_tree(command, folder, **extra):
    """Like run, sampling every 0.1 s the command's own memory and its whole process tree's
    (a Spark driver's JVM and Python workers); returns (seconds, peak MB, tree peak MB, CPU s,
    tree CPU s). The tree's CPU adds each descendant's own CPU as last sampled: a driver
    never waits for its JVM, so the command's own CPU leaves the JVM out."""
    started = time.perf_counter()
    peak = tree = 0
    below = {}
    with open(Path(folder) / "stdout.txt", "w") as out, open(Path(folder) / "stderr.txt", "w") as err:
        process = subprocess.Popen(command, cwd=folder, env=env_for(folder, **extra),
                                   stdout=out, stderr=err)
        while True:
            own, whole, seconds = tree_rss(process.pid)
            peak, tree = max(peak, own), max(tree, whole)
            below.update(seconds)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.1)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        tail = (Path(folder) / "stderr.txt").read_text()[-2000:]
        raise RuntimeError(f"{' '.join(map(str, command))} failed in {folder}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, peak / 2**20, tree / 2**20, cpu, cpu + sum(below.values())
