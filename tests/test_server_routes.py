"""Every route the team server exposes, walked without a login and as a READ-only user.

MLflow's advisories of 2026 (CVE-2026-0545, CVE-2026-2652, CVE-2026-2614,
GHSA-8c7q-86fq-vvmh) were all routes basic auth did not cover: the jobs API, FastAPI routes
(``/v1/traces``, ``/gateway/``), artifact downloads, multipart uploads. The route list comes
from the app itself: ``mlflow.server.auth:create_app`` (what ``mlflow server --app-name
basic-auth`` starts under uvicorn) built in a subprocess with a scratch auth database, its
FastAPI routes and the Flask ``url_map`` it mounts. Each route is then sent to the running
server (``scripts/server.sh start``, TRACKFIT_SERVER_URI) with every method it takes.
"""

import base64
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import uuid

import mlflow
import pytest

from .conftest import PASSWORD, http_status

# The team server's app (its server extra: Flask-WTF for basic auth), walked route by route.
pytestmark = pytest.mark.slow

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# Open by design (mlflow.server.auth: _UNPROTECTED_PATH_PREFIXES, _PUBLIC_ROUTE_SUFFIXES): the
# health check, the UI's static files and the server's public capabilities, no run data.
PUBLIC = re.compile(r"^/(health|static-files/|favicon\.ico|static/|"
                    r"(api|ajax-api)/[23]\.0/mlflow/server-info$)")
# POST routes that read: searches and queries a READ user may run.
READS = re.compile(r"(search|/get|/list|query|/current|get-history|/check|/calculate|"
                   r"/graphql$|/permissions/get|/download|/traces/batch-get|"
                   # The UI's usage telemetry: no run data; server.sh turns telemetry off.
                   r"/mlflow/ui-telemetry$)")

ENUMERATE = r'''
import json
from starlette.routing import Mount
from mlflow.server.auth import create_app

def native(found):
    """FastAPI's routes; an included router (FastAPI 0.16x) holds its own, prefixed."""
    for route in found:
        if isinstance(route, Mount):
            continue  # the Flask app, below
        if hasattr(route, "effective_candidates"):
            yield from native(route.effective_candidates())
            yield from native(route.effective_low_priority_routes())
            continue
        path = getattr(route, "path_format", None) or route.path
        yield [path, sorted(getattr(route, "methods", None) or ["GET"])]


app = create_app()
routes = list(native(app.routes))
from mlflow.server import app as flask_app
for rule in flask_app.url_map.iter_rules():
    routes.append([rule.rule, sorted(rule.methods)])
print(json.dumps(routes))
'''


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    """[(path template, methods)] of the app ``mlflow server --app-name basic-auth`` runs."""
    folder = tmp_path_factory.mktemp("routes")
    (folder / "auth.ini").write_text(
        f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{folder}/auth.db\n"
        "admin_username = admin\nadmin_password = route-walk-only\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder),
           "MLFLOW_AUTH_CONFIG_PATH": str(folder / "auth.ini"), "_MLFLOW_SGI_NAME": "uvicorn",
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "route-walk-only",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{folder}/mlflow.db"}
    done = subprocess.run([sys.executable, "-c", ENUMERATE], capture_output=True, text=True,
                          env=env, cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = {}
    for path, methods in json.loads(done.stdout.strip().splitlines()[-1]):
        found.setdefault(path, set()).update(set(methods) - {"HEAD", "OPTIONS"})
    return sorted(found.items())


def login(username, password):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def send(base, method, path, fields, headers=()):
    """The HTTP status of ``method path`` with ``fields`` as query string and JSON body."""
    query = urllib.parse.urlencode({k: v for k, v in fields.items() if isinstance(v, str)})
    body = json.dumps(fields).encode() if method in WRITES else None
    try:
        return http_status(f"{base}{path}?{query}", method, body,
                           {"Content-Type": "application/json", **dict(headers)})
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        return f"no answer ({exc})"


def concrete(template, ids):
    """A route template with its variables filled in: a path inside the run's artifacts for
    a path, the id of the real resource a variable names, else a placeholder."""
    def value(name, converter):
        if converter == "path":
            return f"{ids['experiment_id']}/{ids['run_id']}/artifacts/route-walk.txt"
        for key in ("experiment_id", "run_id", "trace_id", "name", "version"):
            if key.split("_")[0] in name.lower():
                return ids[key]
        return "route-walk"

    flask = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: value(m.group(2), m.group(1)), template)
    return re.sub(r"\{(\w+)(?::(\w+))?\}", lambda m: value(m.group(1), m.group(2)), flask)


def test_the_route_list_is_the_whole_app(routes):
    paths = [path for path, _ in routes]
    assert len(routes) > 100
    for expected in ("/api/2.0/mlflow/runs/create", "/v1/traces", "/health",
                     "/api/2.0/mlflow/users/create"):
        assert expected in paths, expected
    assert any(p.startswith("/gateway/") for p in paths)
    assert any("/jobs" in p for p in paths)
    assert any(p.startswith("/api/2.0/mlflow-artifacts/artifacts") for p in paths)
    assert any("mpu" in p or "multipart" in p for p in paths)


def test_no_route_answers_without_a_login_or_lets_a_reader_write(server, routes):  # noqa: F811
    if not PASSWORD:
        pytest.skip("the tracking server runs without logins (TRACKFIT_SERVER_AUTH=1)")
    client = mlflow.MlflowClient(tracking_uri=server)
    tag = uuid.uuid4().hex[:8]
    experiment_id = client.create_experiment(f"route-walk-{tag}")
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "estimator", "linear")
    model = client.create_registered_model(f"route-walk-{tag}").name
    reader, secret = f"reader-{tag}", uuid.uuid4().hex
    from mlflow.server import get_app_client

    auth = get_app_client("basic-auth", tracking_uri=server)
    auth.create_user(reader, secret)
    auth.grant_user_permission(reader, "experiment", experiment_id, "READ")
    auth.grant_user_permission(reader, "registered_model", model, "READ")
    ids = {"experiment_id": experiment_id, "run_id": run.info.run_id, "name": model,
           "version": "1", "trace_id": f"tr-{tag}"}
    fields = {**ids, "key": "route-walk", "value": "route-walk", "username": reader,
              "password": "route-walk", "permission": "MANAGE", "is_admin": True,
              "new_name": f"renamed-{tag}", "alias": "champion", "path": "route-walk.txt"}

    def demo():  # what /demo/generate makes
        found = client.get_experiment_by_name("MLflow Demo")
        return found and (found.experiment_id, found.lifecycle_stage, found.last_update_time)

    before = demo()
    open_routes, reader_writes, walked = [], [], 0
    for template, methods in routes:
        path = concrete(template, ids)
        for method in sorted(methods):
            walked += 1
            status = send(server, method, path, fields)
            if isinstance(status, int) and 200 <= status < 300 and not PUBLIC.match(path):
                open_routes.append(f"{method} {template} -> {status}")
            if method in WRITES and not READS.search(template):
                status = send(server, method, path, fields, login(reader, secret))
                if isinstance(status, int) and 200 <= status < 300:
                    reader_writes.append(f"{method} {template} -> {status}")
    print(f"walked {walked} method-route pairs of {len(routes)} routes; open: {open_routes}; "
          f"reader wrote: {reader_writes}")
    assert open_routes == [], "answered without a login"
    assert reader_writes == [], "a READ-only user wrote"
    # And nothing the reader could reach changed.
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    assert client.get_experiment(experiment_id).name == f"route-walk-{tag}"
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"
    assert client.get_run(run.info.run_id).data.params == {"estimator": "linear"}
    assert client.get_registered_model(model).name == model
    assert not auth.get_user(reader).is_admin
    assert demo() == before
