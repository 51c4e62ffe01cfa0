"""Shared fixtures: a fresh SQLite tracking store per test, and ways to run trackfit as users do.

``run_cli`` runs the command line in this process (``trackfit.cli.main``), as fast as a
function call (``in_shell`` likewise, from a shell's environment of the test's making);
``cli`` and ``mlflow_run`` start ``python -m trackfit`` and ``mlflow run`` as users do, each a
new interpreter importing MLflow and scikit-learn (seconds): they are kept for the tests of
the command line itself, marked slow. ``start_racers`` starts commands that race each other
as processes forked from one interpreter that has made those imports once.
"""

import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from trackfit.estimators import plugins
from trackfit.tracking import runs as tracking

PROJECT = Path(__file__).resolve().parent.parent
EXPERIMENT = "experiment-diabetes"
MODEL = "model-diabetes"

# Every Spark driver the tests start (this process's, and the commands' they run) compiles
# with the JVM's quick compiler only: the tests' Spark jobs are small, and a local[2] train
# of the lab's 442 rows took 18 s of the machine's CPU this way, 26 s with the JVM's default
# (its optimising compiler warming up for work that never comes). Users' Spark is untouched.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1")

# Every interpreter the tests start writes the bytecode of what it imports, as Python does
# unless told not to: uv installs none, so in the fresh environments the tests build each
# new process compiled all of MLflow and scikit-learn again (8 s of a 12 s `mlflow run`).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


# What one run of MLflow leaves in its process's environment (mlflow.set_experiment sets
# MLFLOW_EXPERIMENT_ID); never handed on to the next test or to a user's command.
RUN_STATE = ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID")


def model_metrics(metrics):
    """``metrics`` without what serving the model costs (each must have been logged, > 0):
    what must be identical when the same run is made again."""
    for name in tracking.COSTS:
        assert metrics[name] > 0, name
    return {k: v for k, v in metrics.items() if k not in tracking.COSTS}


@pytest.fixture(autouse=True)
def no_leftover_run_state():
    """Each test starts and ends with no experiment or run chosen in the environment."""
    for name in RUN_STATE:
        os.environ.pop(name, None)
    yield
    for name in RUN_STATE:
        os.environ.pop(name, None)


@pytest.fixture(scope="session", autouse=True)
def one_openmp_thread():
    """Estimators fitted in this process use one OpenMP thread (the same numbers): on a
    machine busier than its cores, hist-gb's thread team waits on itself for seconds a fit."""
    import sklearn.utils._openmp_helpers  # noqa: F401 - loads the OpenMP runtime to limit
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory):
    """An SQLite store with MLflow's tables made once; each test gets a copy (saves ~1 s)."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store):
    """A fresh tracking store in ``tmp_path`` (also the working directory); returns its URI."""
    shutil.copy(empty_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.tracking.fluent._active_experiment_id = None
    # Artifacts beside the store, wherever the run starts (mlflow run starts in the project).
    mlflow.MlflowClient().create_experiment(
        EXPERIMENT, artifact_location=(tmp_path / "mlartifacts").as_uri())
    tracking.client.cache_clear()
    plugins.reset()
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    plugins.reset()
    tracking.client.cache_clear()


@pytest.fixture(scope="session")
def pins_python(tmp_path_factory):
    """A Python with trackfit's pins and its spark and tune extras, but not trackfit: the
    ``mlflow`` of a user who installed MLflow alone, and what `mlflow run` with uv or conda
    gives a cluster. .ci/run's (TRACKFIT_SPARK_PYTHON, the cluster's), else one built here
    by ``scripts/spark.sh pins-python`` (with uv, from its cache when it can)."""
    python = os.environ.get("TRACKFIT_SPARK_PYTHON")
    if not python:
        env = {**os.environ, "TRACKFIT_SPARK_DIR": str(tmp_path_factory.mktemp("pins")),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        python = subprocess.run([str(PROJECT / "scripts" / "spark.sh"), "pins-python"],
                                env=env, capture_output=True, text=True, check=True,
                                timeout=900, cwd=PROJECT).stdout.strip()
    import pyspark

    has = subprocess.run(
        [python, "-c", "import importlib.util as u, pyspark; "
                       "print(u.find_spec('trackfit') is not None, pyspark.__version__)"],
        capture_output=True, text=True, cwd=tmp_path_factory.mktemp("elsewhere"), timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert has.stdout.split() == ["False", pyspark.__version__], has.stderr[-2000:]
    return python


def checkout_files(folder):
    """The checkout's own files (tracked, or new and not ignored) copied into ``folder``.

    Listed by git rather than walked, so what other tests write into the checkout meanwhile
    (a partial output, a store) is never copied, nor half-copied.
    """
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=PROJECT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = PROJECT / name
        if source.is_file():  # tracked but deleted in this checkout: skipped
            (Path(folder) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, Path(folder) / name)
    return Path(folder)


def uv(*args):
    """``uv ARGS`` (the test extra's uv), failing the test with its output if it fails."""
    return subprocess.run([sys.executable, "-m", "uv", *args], check=True, capture_output=True,
                          text=True, timeout=900)


def conda_pins():
    """The pip pins of conda.yaml, read here independently of trackfit."""
    import yaml

    for dependency in yaml.safe_load((PROJECT / "conda.yaml").read_text())["dependencies"]:
        if isinstance(dependency, dict):
            return dependency["pip"]
    raise AssertionError("conda.yaml has no pip section")


def env_for(uri, experiment=EXPERIMENT, **extra):
    """The environment a user's shell would have, pointed at ``uri`` and ``experiment``,
    with the team server's login when ``uri`` is that server."""
    env = {k: v for k, v in os.environ.items() if k not in RUN_STATE}
    # `python` in MLproject commands is the test interpreter's, as in an activated venv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME=experiment,
               PYTHONPATH=str(PROJECT), **{**credentials(uri), **extra})
    return env


def cli(uri, *args, cwd=None, **env):
    """``python -m trackfit ARGS`` in a subprocess, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "trackfit", *args], capture_output=True, text=True,
        env=env_for(uri, **env), cwd=cwd or PROJECT, timeout=600,
    )


def mlflow_run(uri, *args, project=PROJECT, experiment=EXPERIMENT, cwd=None, **env):
    """``mlflow run PROJECT ARGS --env-manager local`` in ``experiment``, from ``cwd`` (the
    project unless given), as the README tells users."""
    return mlflow_cli(["run", str(project), "--env-manager", "local",
                       "--experiment-name", experiment, *args],
                      env_for(uri, experiment, **env), cwd or project)


def mlflow_cli(args, env, cwd):
    """``mlflow ARGS`` by MLflow's own command line in this process, as from a shell of
    ``env`` in ``cwd``: what a new ``mlflow`` process does, less its 4 s of imports. The
    commands an MLproject runs are new processes, as from a shell. Returns a Done with
    what MLflow and those processes printed."""
    return in_shell(args, env, cwd, main=mlflow_main)


def in_shell(args, env, cwd, main=None):
    """``main(args)`` (``trackfit.cli.main`` unless given) in this process as a new one
    started from a shell of ``env`` in ``cwd`` (see ``shell``), less its seconds of imports:
    a Done of its exit code and what was written to its stdout and stderr, the processes
    it starts included."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = (os.dup(1), os.dup(2), sys.stdout, sys.stderr)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout = open(1, "w", closefd=False, buffering=1)
        sys.stderr = open(2, "w", closefd=False, buffering=1)
        try:
            with shell(env, cwd):
                code = call_main([str(a) for a in args], main=main)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in ((1, saved[0]), (2, saved[1])):
                os.dup2(copy, fd)
                os.close(copy)
            sys.stdout, sys.stderr = saved[2], saved[3]
        out.seek(0)
        err.seek(0)
        return Done(code, out.read().decode(errors="replace"),
                    err.read().decode(errors="replace"))


# Servers a test starts as a user's shell would (trackfit serve, the UI), and how they stop.


def descendants(pid):
    """The pids of every process below ``pid``, from /proc."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_line(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def answers(url):
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start_server(command, env, url, timeout=240):
    """``command`` started as a user's shell would, once ``url`` answers; and its pids."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + timeout
    while not answers(url):
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}: {process.stdout.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{url} did not answer within {timeout} s")
        time.sleep(0.5)
    below = descendants(process.pid)
    assert below, "the server runs in a child process"
    return process, below


def kill_tree(pid):
    """SIGKILL to ``pid`` and every process below it: a failed check leaves no server
    running for the next tests."""
    for each in [*descendants(pid), pid]:
        if alive(each):
            os.kill(each, signal.SIGKILL)


def stopped_cleanly(process, below, url, signum):
    process.send_signal(signum)
    code = process.wait(timeout=60)
    deadline = time.monotonic() + 30
    while (answers(url) or any(alive(p) for p in below)) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [p for p in below if alive(p)]
    for pid in left:  # never leave them for the next test
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left behind: {left}"
    assert not answers(url), f"{url} still answers"
    return code, process.stdout.read() if process.stdout else ""


# What a train or register imports, skops first as the command line has it
# (trackfit.cli.skops_first): MLflow's stores and flavor, scikit-learn, git, trackfit's steps.
RACER_IMPORTS = ["skops.io", "mlflow", "mlflow.sklearn", "mlflow.store.tracking.sqlalchemy_store",
                 "mlflow.store.model_registry.sqlalchemy_store", "mlflow.store.tracking.rest_store",
                 "sklearn.linear_model", "sklearn.tree", "git", "trackfit.cli",
                 "trackfit.entrypoints.train", "trackfit.entrypoints.register", "tests.conftest"]


def start_racers(count, args, env, cwd, folder):
    """``count`` processes of ``trackfit ARGS`` at once, from a shell of ``env`` in ``cwd``;
    what each prints goes to files in ``folder``.

    Each is forked from one interpreter that has imported trackfit, MLflow and scikit-learn
    (multiprocessing's forkserver, started once per test process): processes of their own,
    each with its own connections to the store, that reach it within a second or two of each
    other (eight trains all hold their runs open at once) instead of after seconds of imports
    each, staggered on a busy machine. Returns a Racer for each: ``communicate(timeout)``
    gives (stdout, stderr), then ``returncode`` is set, as with subprocess.Popen.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(RACER_IMPORTS)
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(PROJECT)  # where the server imports tests.conftest from
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    racers = [Racer(context, args, env, cwd, Path(folder) / f"racer-{n}") for n in range(count)]
    for racer in racers:
        racer.process.start()
    return racers


class Racer:
    """One of start_racers' processes; what it printed goes to files beside ``stem``."""

    def __init__(self, context, args, env, cwd, stem):
        self.out, self.err = Path(f"{stem}.out"), Path(f"{stem}.err")
        self.process = context.Process(target=command_in_child, daemon=False, args=(
            [str(a) for a in args], dict(env), str(cwd), str(self.out), str(self.err)))
        self.returncode = None

    def communicate(self, timeout=None):
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            raise subprocess.TimeoutExpired("trackfit racer", timeout)
        self.returncode = self.process.exitcode
        return self.out.read_text(), self.err.read_text()


def command_in_child(args, env, cwd, out, err):
    """In a racer: become ``trackfit ARGS`` started from a shell of ``env`` in ``cwd``, its
    output to the files ``out`` and ``err``; exit as that process would, atexit included."""
    import atexit

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    code = call_main(args)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@contextlib.contextmanager
def trackfit_of(checkout):
    """trackfit in this process as if imported from ``checkout``, a copy of this one: its git
    commit and state in what runs record and rerun checks, its plugins/ folder."""
    from trackfit.tracking import project, provenance

    saved = project.checkout
    project.checkout = lambda: checkout
    provenance.code_state.cache_clear()  # asked once per process: asked again, of the copy
    try:
        yield
    finally:
        project.checkout = saved
        provenance.code_state.cache_clear()


class Exited:
    """An entry point that has run to its exit ``code``, as MLflow's run waits on it."""

    pid = None

    def __init__(self, code):
        self.returncode = code

    def wait(self):
        return self.returncode

    poll = wait


@contextlib.contextmanager
def entry_points_here():
    """``mlflow run`` calling its entry point, ``python -m trackfit STEP ...``, in this process
    (``trackfit.cli.main``) with the environment MLflow gives the process it would start:
    MLflow's command line, MLproject's parameters and the run MLflow starts and ends are
    MLflow's own; only the new interpreter (seconds of imports) is saved. The tests of
    ``mlflow run`` itself keep the process."""
    import shlex

    from mlflow.projects.backend import local
    from mlflow.projects.submitted_run import LocalSubmittedRun

    def run_here(command, work_dir, experiment_id, run_id):
        argv = shlex.split(command)
        assert argv[:3] == ["python", "-m", "trackfit"], command
        env = {**os.environ, **local.get_run_env_vars(run_id, experiment_id)}
        with shell(env, work_dir):
            code = call_main(argv[3:])
        return LocalSubmittedRun(run_id, Exited(code))

    saved = local._run_entry_point
    local._run_entry_point = run_here
    try:
        yield
    finally:
        local._run_entry_point = saved


def mlflow_main(args):
    """MLflow's console script: a usage error is its "Error: ..." line and exit 2."""
    import click
    from mlflow.cli import cli as mlflow_command

    try:
        mlflow_command.main(args=args, prog_name="mlflow", standalone_mode=False)
    except click.ClickException as error:
        error.show()
        raise SystemExit(error.exit_code) from None
    return 0


@dataclass
class Done:
    """What a command left: its exit code and what it printed (as subprocess.run gives)."""

    returncode: int
    stdout: str
    stderr: str


# The warning filters of a plain ``python -m trackfit`` (no -W, no PYTHONWARNINGS), so a
# library warning reaches stderr in process as it would in a user's shell, not pytest's summary.
PYTHON_WARNINGS = (("ignore", ResourceWarning, ""), ("ignore", ImportWarning, ""),
                   ("ignore", PendingDeprecationWarning, ""), ("ignore", DeprecationWarning, ""),
                   ("default", DeprecationWarning, "__main__"))


def show_on_stderr(message, category, filename, lineno, file=None, line=None):
    """Python's own way of showing a warning, where pytest would collect it instead."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def forget_process_state():
    """No run, experiment, client or plugin catalogue left from one command for the next."""
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.tracking.fluent._active_experiment_id = None
    for name in RUN_STATE:
        os.environ.pop(name, None)
    tracking.client.cache_clear()
    plugins.reset()


@contextlib.contextmanager
def shell(env, cwd):
    """This process as a new one started with exactly the environment ``env`` in ``cwd``:
    the tracking URI is the one ``env`` names, no run, experiment, client or plugin
    catalogue is left from before; all of it restored afterwards."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_uri = mlflow.tracking._tracking_service.utils._tracking_uri
    forget_process_state()
    os.environ.clear()
    os.environ.update(env)
    mlflow.tracking._tracking_service.utils._tracking_uri = None  # MLFLOW_TRACKING_URI's
    os.chdir(cwd)
    try:
        yield
    finally:
        forget_process_state()
        os.chdir(saved_cwd)
        mlflow.set_tracking_uri(saved_uri)
        os.environ.clear()
        os.environ.update(saved_env)


def command_process(uri=None, cwd=None, **env):
    """This process as ``cli`` starts ``python -m trackfit``: the environment of ``env_for``
    (``env`` added), ``uri`` the tracking URI, ``cwd`` the working directory (see shell)."""
    environment = {k: v for k, v in os.environ.items() if k not in RUN_STATE}
    environment.update({"MLFLOW_EXPERIMENT_NAME": EXPERIMENT, **env})  # as env_for gives
    if uri:
        environment["MLFLOW_TRACKING_URI"] = uri
    return shell(environment, cwd or os.getcwd())


def call_main(args, main=None):
    """``main(args)`` (``trackfit.cli.main``) as the interpreter runs it: its exit code,
    SystemExit's code (argparse), or 1 with the traceback on stderr for an exception it let
    through (``--traceback``). Ctrl-C of the test run itself still stops the tests."""
    if main is None:
        from trackfit.cli import main

    try:
        return main(list(args))
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:  # noqa: BLE001 - what an uncaught exception does to a process
        traceback.print_exc()
        return 1


@pytest.fixture
def run_cli(capfd):
    """``run_cli(*args, uri=None, cwd=None, **env)``: ``trackfit ARGS`` in this process.

    Returns a Done (returncode, stdout, stderr) as ``cli`` does, with warnings shown on
    stderr under Python's default filters. The store fixture's URI and working directory
    stay unless ``uri`` or ``cwd`` are given; ``env`` is added to the environment for the
    command alone.
    """
    def run(*args, uri=None, cwd=None, **env):
        capfd.readouterr()  # what the test printed before is not the command's
        with command_process(uri, cwd, **env), warnings.catch_warnings():
            warnings.resetwarnings()
            for action, category, module in PYTHON_WARNINGS:
                warnings.filterwarnings(action, category=category, module=module)
            warnings.showwarning = show_on_stderr
            code = call_main(args)
            sys.stdout.flush()
            sys.stderr.flush()
        out, err = capfd.readouterr()
        return Done(code, out, err)

    return run


def runs(uri, step=None, status=None, experiment=EXPERIMENT):
    """The runs of ``experiment`` (up to 1,000), filtered by trackfit.step and status."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    filters = []
    if step:
        filters.append(f"tags.`trackfit.step` = '{step}'")
    if status:
        filters.append(f"attributes.status = '{status}'")
    return client.search_runs([found.experiment_id], " and ".join(filters), max_results=1000)


def versions(uri, name=MODEL):
    """Every version of the registered model ``name``."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    return client.search_model_versions(f"name='{name}'")


def champion_version(uri, name=MODEL):
    """The version of ``name`` its alias champion points at."""
    return mlflow.MlflowClient(tracking_uri=uri).get_model_version_by_alias(name, "champion")


def gate_of(run):
    """The gate.json a register run (a Run or its id) logged."""
    import json

    run_id = run.info.run_id if hasattr(run, "info") else run
    return json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/gate.json"))


def logged_skops(model, types, X, y):
    """A function of ``name`` that logs ``model`` in the skops format trusting ``types``,
    with the signature of ``X`` and ``y`` (what test_trust's ``champion`` takes)."""
    from mlflow.models import infer_signature

    return lambda name: mlflow.sklearn.log_model(
        model, name=name, serialization_format="skops", skops_trusted_types=types,
        signature=infer_signature(X, y), pip_requirements=[])


# The team tracking server (scripts/server.sh; .ci/run starts it and sets these).
SERVER = os.environ.get("TRACKFIT_SERVER_URI")
USERNAME = os.environ.get("TRACKFIT_SERVER_USERNAME")
PASSWORD = os.environ.get("TRACKFIT_SERVER_PASSWORD")


def credentials(uri):
    """The team server's login, for that server only."""
    if USERNAME and uri == SERVER:
        return {"MLFLOW_TRACKING_USERNAME": USERNAME, "MLFLOW_TRACKING_PASSWORD": PASSWORD or ""}
    return {}


@pytest.fixture
def server(monkeypatch):
    """The running team server's URI; this process's clients get its credentials."""
    if not SERVER:
        pytest.skip("no tracking server: start one with scripts/server.sh start and set "
                    "TRACKFIT_SERVER_URI (.ci/run does both)")
    for name, value in credentials(SERVER).items():
        monkeypatch.setenv(name, value)
    return SERVER


@pytest.fixture
def names():
    """An experiment and a registered model name of this test's own."""
    import uuid

    tag = uuid.uuid4().hex[:8]
    return f"server-{tag}", f"model-{tag}"


# The browser: Debian's Chromium, driven by Playwright (never a browser of its own).
CHROMIUM = os.environ.get("TRACKFIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session; CI must have it, elsewhere it may skip."""
    if not os.path.exists(CHROMIUM):
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def http_status(url, method=None, data=None, headers=(), timeout=30):
    """The HTTP status of a request to ``url`` (an error status too, not an exception)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=data, headers=dict(headers), method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def free_port():
    """A TCP port on loopback that nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url, process, timeout=120):
    """Wait until ``url`` answers (any HTTP status); fail early if ``process`` exits."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def spark_missing():
    """Why Spark cannot run here, or None: the spark extra and Java 17 are needed."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: pip install -e '.[spark]'"
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        return "Spark needs Java 17 (java on PATH or JAVA_HOME)"
    return None


@pytest.fixture(scope="session")
def spark():
    """The test session's one SparkSession: local[2] on loopback, executors on this Python.

    Steps called in this process with spark=... use it as the active session, as in a
    notebook; commands run in subprocesses start their own.
    """
    if spark_missing():
        pytest.skip(spark_missing())
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"  # the driver binds to loopback only
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("trackfit-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def spark_if_present(request):
    """The session's SparkSession when Spark can run here, else None (the test goes on)."""
    return None if spark_missing() else request.getfixturevalue("spark")



@pytest.fixture(autouse=True)
def guard_restored():
    """No test leaves MLflow's deserialisation guard other than it found it: a lifted guard
    would let a later load run a pickle (threads saving models at once once did)."""
    before = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    yield
    after = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    assert after == before, f"MLflow's guard was left at {after!r}, not {before!r}"


# Tests run on workers (pytest-xdist, `-n auto --dist loadgroup` in pyproject.toml); the
# ones that share a session's SparkSession or browser stay on one worker, so the whole run
# still starts one of each.
SHARED = {"spark": "spark", "spark_if_present": "spark", "browser": "browser"}


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per core for the fast tier, which computes in this process;
    one more with the slow tests, which wait on the processes, servers and JVMs they start
    (on 2 cores, 3 workers took the suite from 669 to 589 s; 4 took 660 s)."""
    cores = len(os.sched_getaffinity(0))
    return cores if config.option.markexpr == "not slow" else cores + 1


def pytest_collection_modifyitems(items):
    for item in items:
        for name, group in SHARED.items():
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
                break


def locked_store_error(path):
    """The error MLflow's SQL store raises when SQLite stays locked: an MlflowException
    (TEMPORARILY_UNAVAILABLE) from SQLAlchemy's OperationalError of sqlite3's SQLITE_BUSY."""
    import sqlite3

    import sqlalchemy
    from mlflow.exceptions import MlflowException

    holder = sqlite3.connect(path)
    holder.execute("create table if not exists t (k text)")
    holder.execute("begin exclusive")
    engine = sqlalchemy.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        with engine.begin() as db:
            db.execute(sqlalchemy.text("insert into t values ('a')"))
    except sqlalchemy.exc.OperationalError as exc:
        try:
            raise MlflowException(message=exc, error_code="TEMPORARILY_UNAVAILABLE") from exc
        except MlflowException as error:
            return error
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()
    raise AssertionError("the store was not locked")
