"""The team server's doors: loopback unless logins, MLflow's host and CORS checks, secrets.

The refusal to bind beyond loopback, the scrubbed password and what ``make server`` installs
need no server; a server without logins starts one of its own. The rest look at the running
one (``.ci/run`` starts it; TRACKFIT_SERVER_URI, TRACKFIT_SERVER_DIR as given to
scripts/server.sh) and skip without it.
"""

import base64
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import mlflow
import pytest

from .conftest import PASSWORD, PROJECT, free_port, http_status
from .test_server import SCRIPT, trackfit

SERVER_DIR = PROJECT / os.environ.get("TRACKFIT_SERVER_DIR", ".server")
SECRET_FILES = ("pg-password", "admin-password", "flask-secret-key", "basic_auth.ini")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_binding_beyond_loopback_without_logins_is_refused(tmp_path, host):
    env = {k: v for k, v in os.environ.items() if k != "TRACKFIT_SERVER_AUTH"}
    env.update(TRACKFIT_SERVER_HOST=host, TRACKFIT_SERVER_DIR=str(tmp_path / "server"),
               TRACKFIT_SERVER_PORT="1", TRACKFIT_PG_PORT="1")
    result = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"server: error: will not bind the tracking server to {host} "
                                    "without logins")
    assert "TRACKFIT_SERVER_AUTH=1" in result.stderr
    assert list((tmp_path / "server").iterdir()) == []  # nothing initialised, nothing started


@pytest.mark.parametrize("host, allowed", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True),
    ("localhost", True),  # /etc/hosts: no network needed
    ("127.0.0.1.invalid", False),  # a name like 127.0.0.1.nip.io, which need not be loopback
    ("0.0.0.0", False), ("192.0.2.10", False), ("::", False),
])
def test_only_a_loopback_address_or_name_counts_as_loopback(tmp_path, host, allowed):
    env = {k: v for k, v in os.environ.items() if k != "TRACKFIT_SERVER_AUTH"}
    env.update(TRACKFIT_SERVER_HOST=host, TRACKFIT_SERVER_DIR=str(tmp_path / "server"))
    result = subprocess.run([str(SCRIPT), "check"], capture_output=True, text=True, env=env,
                            timeout=60)
    if allowed:
        assert (result.returncode, result.stdout, result.stderr) == (
            0, f"server: would bind the tracking server to {host}\n", "")
    else:
        assert result.returncode == 1
        assert result.stderr.startswith(
            f"server: error: will not bind the tracking server to {host} without logins")


def test_make_server_adds_the_server_extra_alone(tmp_path):
    """``make server`` builds the lab's venv and adds the server extra: no test, tune or
    Spark extras (make's own plan of a fresh venv, -n: nothing is run)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    plan = subprocess.run(["make", "--no-print-directory", "-n", "server",
                           f"VENV={tmp_path / 'venv'}"], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    bootstrap = [line.split("install", 1)[1].split() for line in lines
                 if " -m pip install" in line]
    assert len(bootstrap) == 1 and bootstrap[0][-1].startswith("uv==")  # uv, then uv installs
    installs = [line.split("install", 1)[1].split() for line in lines
                if " -m uv pip install" in line]
    installs = [words[words.index("--python") + 2:] for words in installs]
    assert installs == [["-e", "."], ["-e", "'.[server]'"]]
    assert plan.stdout.splitlines()[-1].endswith("scripts/server.sh start")


@pytest.mark.slow  # the running team server
def test_start_ends_with_the_uri_and_the_login_that_work(server, tmp_path):
    """The last line of ``scripts/server.sh start`` with logins on, typed into a shell, is
    all a client needs: the URI, the user and the password's file. ``start`` again on the
    running server (as .ci/run started it) starts nothing and says it again."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW"] = str(Path(sys.executable).with_name("mlflow"))
    started = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, env=env,
                             cwd=PROJECT, timeout=300)
    assert started.returncode == 0, started.stdout + started.stderr
    last = started.stdout.splitlines()[-1]
    assert last == (f"server: use it: export MLFLOW_TRACKING_URI={server} "
                    "MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD="
                    f"$(cat {SERVER_DIR}/admin-password)")
    assert "initdb" not in started.stdout and "MLflow tracking server at" not in started.stdout
    client = (f"{last.removeprefix('server: use it: ')} && {sys.executable} -c "
              "'import mlflow; print(mlflow.MlflowClient().get_experiment(\"0\").name)'")
    used = subprocess.run(["bash", "-c", client], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": ""}, cwd=tmp_path, timeout=120)
    assert (used.returncode, used.stdout) == (0, "Default\n"), used.stderr[-2000:]


@pytest.mark.slow  # PostgreSQL and a tracking server of its own
def test_a_server_without_logins_answers_every_request(tmp_path):
    """Without TRACKFIT_SERVER_AUTH the server still searches runs: MLflow reads a login
    config on that request, and a config path to a file never written was an HTTP 500."""
    folder = Path(tempfile.mkdtemp(prefix="trackfit-server-"))
    folder.chmod(0o755)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TRACKFIT_"))}
    env.update(TRACKFIT_SERVER_DIR=str(folder / "server"), TRACKFIT_SERVER_PORT=str(port),
               TRACKFIT_PG_PORT=str(free_port()), TRACKFIT_SERVER_WORKERS="1",
               MLFLOW=str(Path(sys.executable).with_name("mlflow")))
    try:
        started = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True,
                                 env=env, timeout=300)
        assert started.returncode == 0, started.stdout + started.stderr
        client = ("import mlflow; mlflow.set_experiment('e'); mlflow.start_run(); "
                  "mlflow.end_run(); print(len(mlflow.search_runs()))")
        used = subprocess.run([sys.executable, "-c", client], capture_output=True, text=True,
                              env={**env, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}",
                                   "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
                              cwd=tmp_path, timeout=120)
        assert (used.returncode, used.stdout.splitlines()[-1]) == (0, "1"), used.stderr[-2000:]
    finally:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def secrets():
    """Every secret of the running server: the files' contents, and the test's password."""
    found = [PASSWORD] if PASSWORD else []
    for name in SECRET_FILES[:3]:
        if (SERVER_DIR / name).exists():
            found.append((SERVER_DIR / name).read_text().strip())
    return [s for s in found if s]


@pytest.mark.slow  # the running team server
def test_the_team_server_runs_no_job_runner_and_sends_no_telemetry(server):
    """scripts/server.sh starts MLflow without its job runner (a consumer process per GenAI
    job, each importing MLflow) and with telemetry off: a comment line inside the command
    once ended it early, and MLflow started both."""
    from .conftest import command_line, descendants

    pid = int((SERVER_DIR / "mlflow.pid").read_text())
    environ = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_bytes()
                   .decode(errors="replace").split("\0") if "=" in item)
    assert (environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION"),
            environ.get("MLFLOW_DISABLE_TELEMETRY")) == ("false", "true")
    assert "mlflow server" in command_line(pid)
    commands = [command_line(child) for child in descendants(pid)]
    assert commands and not any("huey" in c or "_job_runner" in c for c in commands), commands


@pytest.mark.slow  # the running team server
def test_secret_files_are_readable_by_their_owner_only(server):
    present = [SERVER_DIR / name for name in SECRET_FILES if (SERVER_DIR / name).exists()]
    assert SERVER_DIR / "pg-password" in present
    for path in present:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.slow  # the running team server
def test_no_password_on_a_command_line_or_in_a_log(server):
    assert secrets()
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, NotADirectoryError, PermissionError, ProcessLookupError):
            continue
        for secret in secrets():
            assert secret not in cmdline, f"process {proc.name} has a password on its command line"
    logs = list(SERVER_DIR.glob("*.log")) + list(SERVER_DIR.glob("pg/*.log"))
    assert logs
    for log in logs:
        text = log.read_text(errors="replace")
        for secret in secrets():
            assert secret not in text, f"{log} holds a password"


@pytest.mark.slow  # the running team server
def test_no_password_in_a_runs_params_or_tags(server, names):
    experiment, _ = names
    done = trackfit(server, experiment, "train", "--estimator", "linear", "--cv", "0")
    assert done.returncode == 0, done.stderr
    assert not any(secret in done.stdout + done.stderr for secret in secrets())
    client = mlflow.MlflowClient(tracking_uri=server)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    values = " ".join(list(run.data.params.values()) + list(run.data.tags.values()))
    for secret in secrets():
        assert secret not in values


def request(url, headers=(), data=None):
    """The HTTP status of a request to the server, with its login."""
    headers = dict(headers)
    if PASSWORD:
        login = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
        headers["Authorization"] = f"Basic {login}"
    return http_status(url, "POST" if data else "GET", data, headers)


@pytest.mark.slow  # the running team server
def test_foreign_hosts_and_cross_origin_writes_are_refused(server):
    search = f"{server}/api/2.0/mlflow/experiments/search?max_results=1"
    port = urllib.parse.urlsplit(server).port
    assert request(search) == 200
    assert request(search, {"Host": f"localhost:{port}"}) == 200
    assert request(search, {"Host": f"rebound.example:{port}"}) == 403  # DNS rebinding
    assert request(search, {"Host": f"10.1.2.3:{port}"}) == 403  # a private address
    create = f"{server}/api/2.0/mlflow/experiments/create"
    body, json = b'{"name": "from-a-web-page"}', {"Content-Type": "application/json"}
    assert request(create, {**json, "Origin": "https://evil.example"}, body) == 403
    assert mlflow.MlflowClient(tracking_uri=server).get_experiment_by_name(
        "from-a-web-page") is None


@pytest.mark.parametrize("command", [("train", "--cv", "0"), ("rerun", "0123")])
def test_the_tracking_password_never_reaches_stderr(run_cli, command):
    """A login in MLFLOW_TRACKING_URI is shown as *** when the server cannot be reached."""
    port = free_port()  # nothing listens there
    uri = f"http://admin:hunter2-secret@127.0.0.1:{port}"
    result = run_cli(*command, uri=uri, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
                 MLFLOW_HTTP_REQUEST_TIMEOUT="5")
    assert result.returncode == 4
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert f"http://admin:***@127.0.0.1:{port}" in result.stderr
