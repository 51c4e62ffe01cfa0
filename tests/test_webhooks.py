"""The team hears: `trackfit webhook` on the team server, and the event `register` sends.

Needs the team server (PostgreSQL behind `mlflow server`, basic auth) started with
TRACKFIT_WEBHOOK_PRIVATE=1, since the receiver here listens on loopback; .ci/run starts it
so. Skipped without TRACKFIT_SERVER_URI, like tests/test_server.py.
"""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow
import pytest

from .conftest import free_port, versions
from .test_server import ok, own_server, trackfit  # noqa: F401 - own_server a fixture

pytestmark = pytest.mark.slow


class Receiver:
    """An HTTP receiver on loopback that keeps every POST: (headers, body)."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((dict(self.headers), body.decode()))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def wait_for(self, match, seconds=120):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for headers, body in list(self.received):
                payload = json.loads(body)
                if match(payload):
                    return headers, body, payload
            time.sleep(0.25)
        pytest.fail(f"no matching event in {seconds} s; got {self.received}")

    def close(self):
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def secret_file(tmp_path):
    secret = secrets.token_hex(24)
    path = tmp_path / "hook.secret"
    path.write_text(secret + "\n")
    return secret, path


def added(result):
    ok(result)
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("webhook: added ")
    return line.split()[2]


def signature_ok(secret, headers, body):
    """MLflow's signature: v1,base64(HMAC-SHA256(secret, "<delivery id>.<timestamp>.<body>"))."""
    signed = f"{headers['X-MLflow-Delivery-Id']}.{headers['X-MLflow-Timestamp']}.{body}"
    digest = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).digest()
    wanted = "v1," + base64.b64encode(digest).decode()
    return hmac.compare_digest(headers["X-MLflow-Signature"], wanted)


def test_register_on_the_server_sends_a_signed_alias_event(server, names, receiver,
                                                           secret_file):
    experiment, model = names
    secret, path = secret_file
    result = trackfit(server, experiment, "webhook", "add", receiver.url, "--events", "alias",
                      "--secret-file", str(path), "--name", f"ci-{model}")
    hook = added(result)
    try:
        assert secret not in result.stdout + result.stderr
        listed = ok(trackfit(server, experiment, "webhook", "list"))
        (line,) = [line for line in listed.stdout.splitlines() if line.startswith(hook)]
        assert receiver.url in line and "alias" in line and secret not in listed.stdout

        ok(trackfit(server, experiment, "train", "--cv", "0"))
        done = ok(trackfit(server, experiment, "register", "--model_name", model,
                           "--threshold", "0.3"))
        assert "registered new version 1" in done.stdout
        headers, body, payload = receiver.wait_for(
            lambda p: p.get("data", {}).get("name") == model)
        assert signature_ok(secret, headers, body)
        assert not signature_ok("not-" + secret, headers, body)
        assert (payload["entity"], payload["action"]) == ("model_version_alias", "created")
        assert payload["data"] == {"name": model, "alias": "champion", "version": "1"}

        tested = ok(trackfit(server, experiment, "webhook", "test", hook))
        assert tested.stdout.strip() == f"webhook: {hook} -> {receiver.url}: delivered, HTTP 200"
    finally:
        removed = ok(trackfit(server, experiment, "webhook", "remove", hook))
    assert removed.stdout.strip() == f"webhook: removed {hook} ({receiver.url})"
    assert hook not in ok(trackfit(server, experiment, "webhook", "list")).stdout


def test_a_receiver_that_is_down_loses_nothing_and_says_one_line(server, names, secret_file):
    experiment, model = names
    secret, path = secret_file
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    hook = added(trackfit(server, experiment, "webhook", "add", down, "--secret-file",
                          str(path)))
    try:
        ok(trackfit(server, experiment, "train", "--cv", "0"))
        done = ok(trackfit(server, experiment, "register", "--model_name", model))
        assert "registered new version 1" in done.stdout
        client = mlflow.MlflowClient(tracking_uri=server)
        assert client.get_model_version_by_alias(model, "champion").version == "1"
        assert len(versions(server, model)) == 1

        tested = trackfit(server, experiment, "webhook", "test", hook)
        assert tested.returncode == 4  # a server failure (the receiver)
        (line,) = tested.stderr.strip().splitlines()
        assert line.startswith(f"trackfit: error: webhook {hook} -> {down}: not delivered "
                               "(connection refused)")
        assert secret not in tested.stderr
    finally:
        ok(trackfit(server, experiment, "webhook", "remove", hook))


def test_a_server_without_the_opt_in_refuses_a_private_url_in_one_line(own_server, names,
                                                                        secret_file,
                                                                        monkeypatch):
    uri, start, _ = own_server
    for name in ("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS"):
        monkeypatch.delenv(name, raising=False)
    start()  # a plain mlflow server on the team database: https on public addresses only
    experiment, _ = names
    secret, path = secret_file
    for url in ("http://127.0.0.1:9/hook", "https://127.0.0.1:9/hook"):
        result = trackfit(uri, experiment, "webhook", "add", url, "--secret-file", str(path))
        assert result.returncode == 2  # bad input: the server refuses that URL
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"trackfit: error: webhook add: the server will not deliver to "
                               f"{url}")
        assert "TRACKFIT_WEBHOOK_PRIVATE=1" in line and secret not in line
    assert ok(trackfit(uri, experiment, "webhook", "list")).stdout.startswith("webhook: none")


def test_the_secret_comes_only_from_a_file(server, names, tmp_path):
    experiment, _ = names
    result = trackfit(server, experiment, "webhook", "add", "https://ci.example/hook")
    assert result.returncode == 2
    assert result.stderr.startswith("trackfit: error: webhook add needs --secret-file")
    short = tmp_path / "short.secret"
    short.write_text("abc\n")
    result = trackfit(server, experiment, "webhook", "add", "https://ci.example/hook",
                      "--secret-file", str(short))
    assert result.returncode == 2 and "at least 16 characters" in result.stderr
    assert "abc" not in result.stderr.replace(str(short), "")
