"""`trackfit serve` and `make ui` stopped by SIGTERM or SIGHUP take their servers with them."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from trackfit.entrypoints.register import register
from trackfit.entrypoints.train import train

from .conftest import env_for, free_port

pytestmark = pytest.mark.slow


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


def start(command, env, url, timeout=240):
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


@pytest.fixture
def champion(store):
    train("linear", cv=0)
    register()
    return store


# SIGTERM (a process manager stopping it) to serve (tests/test_serve.py, with the one
# `trackfit serve` of its checks), SIGHUP (its terminal closed) to the UI here: trackfit
# handles both alike (trackfit.processes.SIGNALS).
def test_the_ui_prints_its_addresses_once_it_answers_and_stops_when_its_terminal_closes(
        champion):
    from trackfit.entrypoints.compare import compare

    compare()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = env_for(champion)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    process = subprocess.Popen([sys.executable, "-m", "trackfit.cli.ui", "--no-browser",
                                "--port", str(port)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        ours = []  # trackfit's lines, not MLflow's own
        while not ours or not ours[-1].startswith("Training runs"):
            line = process.stdout.readline()
            assert line, f"the UI exited: {ours}"
            if line.startswith(("ui:", "Training runs")):
                ours.append(line)
        assert answers(f"{base}/health"), "the addresses came before the UI answered"
        assert ours[0].startswith("ui: starting the MLflow UI"), ours
        assert all(line.startswith("ui: waiting") for line in ours[1:-1]), ours
        assert ours[-1].startswith("Training runs of experiment 'experiment-diabetes': ")
        line = process.stdout.readline()
        while not line.startswith("The leaderboard"):
            line = process.stdout.readline()
            assert line
        below = descendants(process.pid)
        commands = [command_line(pid) for pid in below]
        # `mlflow ui` and its one uvicorn: no worker processes, no job runner (MLflow's defaults
        # start four workers and a job runner with its consumers, 15 processes in all)
        assert len(below) == 2 and not any("huey" in c or "_job_runner" in c for c in commands), \
            commands
    except BaseException:  # a failed check leaves no UI running for the next tests
        for pid in [*descendants(process.pid), process.pid]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        raise
    code, _ = stopped_cleanly(process, below, f"{base}/health", signal.SIGHUP)
    assert code == 128 + signal.SIGHUP
