"""trackfit against a team tracking server (PostgreSQL-backed MLflow), under load and faults.

The server tests need a running server: ``scripts/server.sh start`` (``.ci/run`` does it) and
TRACKFIT_SERVER_URI=http://127.0.0.1:<port>; with its basic-auth app, also
TRACKFIT_SERVER_USERNAME and TRACKFIT_SERVER_PASSWORD. Every test works in an experiment and
registered model of its own, so tests share the server without seeing each other's runs.
"""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from trackfit.tracking import registry

from .conftest import (PROJECT, USERNAME, entry_points_here, env_for, free_port, in_shell,
                       mlflow_run, runs, shell, start_racers, versions)

# Every test here needs the team server (or starts servers of its own).
pytestmark = pytest.mark.slow

SCRIPT = PROJECT / "scripts" / "server.sh"
MLFLOW = str(Path(sys.executable).with_name("mlflow"))
# A dead server must fail a step in seconds, not after MLflow's default minutes of retries.
FAST_FAIL = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
             "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def trackfit(uri, experiment, *args, cwd=PROJECT, **extra):
    """``trackfit ARGS`` in ``experiment``, in this process as from a user's shell (conftest's
    in_shell); the concurrent ones below (``race``) are processes of their own."""
    return in_shell(args, env_for(uri, experiment, **extra), cwd)


def start_trackfit(uri, experiment, *args, cwd=PROJECT, **extra):
    return subprocess.Popen([sys.executable, "-m", "trackfit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env=env_for(uri, experiment, **extra))


def race(count, uri, experiment, *args, folder, cwd=PROJECT):
    """``count`` of ``trackfit ARGS`` in ``experiment`` at once, each a process of its own
    (conftest.start_racers)."""
    return start_racers(count, args, env_for(uri, experiment), cwd, folder)


def finish(processes):
    """Wait for every process; returns (returncode, stdout, stderr) of each."""
    outputs = [p.communicate(timeout=600) for p in processes]
    return [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs)]


def ok(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def assert_one_version_per_run(uri, model_name):
    """Every version READY (none half-made) and no run registered twice."""
    found = versions(uri, model_name)
    assert [v.status for v in found] == ["READY"] * len(found)
    run_ids = [v.run_id for v in found]
    assert len(run_ids) == len(set(run_ids)), run_ids
    return found


def test_whole_lab_against_the_server(server, names, tmp_path):
    """The README's lab on the team server: each `mlflow run` by MLflow's command line, its
    step in this process (conftest.entry_points_here); the tests below start processes."""
    with entry_points_here():
        whole_lab(server, names, tmp_path)


def whole_lab(server, names, tmp_path):
    experiment, model = names
    ok(mlflow_run(server, "-P", f"model_name={model}", experiment=experiment))
    steps = {step: len(runs(server, step, "FINISHED", experiment=experiment))
             for step in ("main", "load", "train", "compare", "register")}
    assert steps == {"main": 1, "load": 1, "train": 2, "compare": 1, "register": 1}
    assert len(assert_one_version_per_run(server, model)) == 1

    ok(mlflow_run(server, "-e", "load", experiment=experiment))
    ok(mlflow_run(server, "-e", "train", "-P", "estimator=tree",
                  "-P", "params=max_depth=2", experiment=experiment))
    ok(mlflow_run(server, "-e", "compare", experiment=experiment))
    ok(mlflow_run(server, "-e", "register", "-P", f"model_name={model}", experiment=experiment))
    output = tmp_path / "predictions.csv"
    ok(mlflow_run(server, "-e", "predict", "-P", f"model=models:/{model}@champion",
                  "-P", f"output={output}", experiment=experiment))

    trained = runs(server, "train", "FINISHED", experiment=experiment)
    assert len(trained) == 3
    assert len(runs(server, "load", "FINISHED", experiment=experiment)) == 2
    compared = runs(server, "compare", "FINISHED", experiment=experiment)[0]
    client = mlflow.MlflowClient(tracking_uri=server)
    assert client.list_artifacts(compared.info.run_id), "the served artifact store is empty"
    best = max(trained, key=lambda r: r.data.metrics["test_r2_score"])
    champion = client.get_model_version_by_alias(model, "champion")
    assert champion.run_id == best.info.run_id
    assert_one_version_per_run(server, model)
    predictions = pd.read_csv(output)
    assert len(predictions) == 442 and predictions["prediction"].notna().all()
    assert len(runs(server, "predict", "FINISHED", experiment=experiment)) == 1


def test_eight_concurrent_trains_on_the_server_make_eight_runs(server, names, tmp_path):
    experiment, _ = names  # not created yet: all eight race to create it
    trainers = race(8, server, experiment, "train", "--cv", "0", folder=tmp_path)
    results = finish(trainers)
    assert [code for code, _, _ in results] == [0] * 8, [err[-800:] for _, _, err in results]
    assert len(runs(server, experiment=experiment)) == 8
    assert len(runs(server, "train", "FINISHED", experiment=experiment)) == 8


def test_eight_concurrent_trains_on_the_default_sqlite_store(tmp_path):
    """A fresh mlflow.db in the working directory, eight trainers at once: all recorded."""
    uri = "sqlite:///mlflow.db"
    experiment = "experiment-diabetes"
    trainers = race(8, uri, experiment, "train", "--cv", "0", folder=tmp_path, cwd=tmp_path)
    results = finish(trainers)
    errors = "".join(err for _, _, err in results)
    assert "database is locked" not in errors
    assert [code for code, _, _ in results] == [0] * 8, errors[-3000:]
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert len(runs(store, experiment=experiment)) == 8
    assert len(runs(store, "train", "FINISHED", experiment=experiment)) == 8


def test_two_concurrent_registers_make_one_version(server, names, tmp_path):
    experiment, model = names
    ok(trackfit(server, experiment, "train", "--cv", "0"))
    registers = race(2, server, experiment, "register", "--model_name", model, folder=tmp_path)
    results = finish(registers)
    assert [code for code, _, _ in results] == [0, 0], [err[-800:] for _, _, err in results]
    found = assert_one_version_per_run(server, model)
    assert len(found) == 1
    done = runs(server, "register", "FINISHED", experiment=experiment)
    assert [r.data.tags["trackfit.model_version"] for r in done] == [found[0].version] * 2
    client = mlflow.MlflowClient(tracking_uri=server)
    assert client.get_model_version_by_alias(model, "champion").version == found[0].version


def test_registers_pointing_the_alias_at_once_all_succeed(server, names, tmp_path):
    """The step two concurrent registers race on: MLflow's SQL store sets an alias by a read
    then an insert, so of several at once all but one get a duplicate-key error unless the
    register sees the alias already set. Four threads, twenty fresh aliases."""
    _, model = names
    with shell(env_for(server, "unused"), tmp_path):
        client = mlflow.MlflowClient()
        client.create_registered_model(model)
        version = client.create_model_version(model, "s3://bucket/model").version
        errors = []

        def point(alias, barrier):
            barrier.wait()
            try:
                registry.point_alias(model, alias, version)
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                errors.append(f"{alias}: {error}"[:300])

        for round_ in range(20):
            barrier = threading.Barrier(4)
            threads = [threading.Thread(target=point, args=(f"race{round_}", barrier))
                       for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        aliases = client.get_registered_model(model).aliases
        assert aliases == {f"race{round_}": version for round_ in range(20)}


def start_mlflow_server(port, backend, folder):
    """A plain ``mlflow server`` of this test's own on the team PostgreSQL database."""
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": backend,
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(folder / "mlflow.log", "a")
    process = subprocess.Popen(
        [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--artifacts-destination", str(folder / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, (folder / "mlflow.log").read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    stop(process)
    pytest.fail("mlflow server did not become healthy in 180 s")


def stop(process):
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


@pytest.fixture
def own_server(server, tmp_path, monkeypatch):
    """Start and stop a tracking server of our own: (uri, start, stop)."""
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    backend = ok(subprocess.run([str(SCRIPT), "backend-uri"], capture_output=True,
                                text=True)).stdout.strip()
    port = free_port()
    started = []

    def start():
        started.append(start_mlflow_server(port, backend, tmp_path))

    def halt():
        stop(started.pop())

    yield f"http://127.0.0.1:{port}", start, halt
    while started:
        halt()


@pytest.fixture
def held_data(tmp_path):
    """The lab data over HTTP on loopback, answered only once ``release`` is called: a train
    reading it holds its run RUNNING until then. Returns (url, release)."""
    from trackfit.engines import pandas as data
    from trackfit.engines.source import parse

    body = data.read(parse("diabetes")).to_csv(index=False).encode()
    released = threading.Event()

    class Held(BaseHTTPRequestHandler):
        def do_GET(self):
            released.wait(timeout=300)
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # the server's own log is not what trackfit printed
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Held)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_address[1]}/diabetes.csv", released.set
    released.set()
    http.shutdown()


# On one worker, one after the other: the restart stops PostgreSQL for a moment, and the
# server stopped mid-train fails fast on the first error it sees (FAST_FAIL).
@pytest.mark.xdist_group("postgresql-restart")
def test_server_stopped_mid_train_fails_fast_and_the_lab_recovers(own_server, names,
                                                                   held_data):
    uri, start, halt = own_server
    experiment, model = names
    url, release = held_data
    start()
    # The run is made, then the data read: held, so the server stops under a RUNNING run.
    trainer = start_trackfit(uri, experiment, "train", "--estimator", "tree", "--data", url,
                             **FAST_FAIL)
    deadline = time.monotonic() + 300
    while not runs(uri, "train", "RUNNING", experiment=experiment):
        assert trainer.poll() is None, trainer.communicate()
        assert time.monotonic() < deadline, "the train run never started"
        time.sleep(0.1)
    halt()
    release()
    # Bounded: MLFLOW_HTTP_REQUEST_* above; a hang would hit this timeout.
    out, err = trainer.communicate(timeout=300)
    assert trainer.returncode == 4
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert lines[-1].startswith(f"trackfit: error: the tracking server {uri} is unreachable")

    start()
    ok(trackfit(uri, experiment, "main", "--cv", "0", "--model_name", model))
    trained = runs(uri, "train", experiment=experiment)
    assert len(trained) == 3
    assert len([r for r in trained if r.info.status == "FINISHED"]) == 2
    found = assert_one_version_per_run(uri, model)
    assert len(found) == 1
    finished = {r.info.run_id for r in trained if r.info.status == "FINISHED"}
    assert found[0].run_id in finished


@pytest.mark.xdist_group("postgresql-restart")
def test_postgresql_restarted_under_the_server(server, names):
    experiment, model = names
    ok(subprocess.run([str(SCRIPT), "db-restart"], capture_output=True, text=True))
    ok(trackfit(server, experiment, "main", "--cv", "0", "--model_name", model))
    assert len(runs(server, "train", "FINISHED", experiment=experiment)) == 2
    assert len(runs(server, "main", "FINISHED", experiment=experiment)) == 1
    assert len(assert_one_version_per_run(server, model)) == 1


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_bad_credentials_are_one_clear_line(server, names, password):
    if not USERNAME:
        pytest.skip("the server runs without basic auth: set TRACKFIT_SERVER_USERNAME and "
                    "TRACKFIT_SERVER_PASSWORD for one started with TRACKFIT_SERVER_AUTH=1")
    experiment, _ = names
    result = trackfit(server, experiment, "train", "--cv", "0",
                      MLFLOW_TRACKING_PASSWORD=password)
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [
        f"trackfit: error: the tracking server {server} refused the credentials (HTTP 401); "
        "check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    ]
    assert runs(server, experiment=experiment) == []
