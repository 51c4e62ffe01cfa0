"""store.classify tells store and server failures apart by the codes MLflow's errors carry
(error code, HTTP status, the database's own error code, the requests error under them),
and store.explain says each in one line."""

import http.server
import sqlite3
import threading

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from trackfit.tracking import store

from .conftest import free_port, runs


@pytest.mark.parametrize("code, kind, says", [
    (databricks_pb2.UNAUTHENTICATED, "unauthenticated", "refused the credentials (HTTP 401)"),
    (databricks_pb2.PERMISSION_DENIED, "denied", "denied this user the operation (HTTP 403)"),
])
def test_a_server_error_code_is_explained_by_its_status(code, kind, says):
    error = MlflowException("no JSON text to read", error_code=code)
    assert store.classify(error) == kind
    assert says in store.explain(error)


def plain_answer(status, body="<html>no</html>"):
    """The MlflowException MLflow raises for a plain (not JSON) HTTP answer of ``status``."""
    from mlflow.utils.rest_utils import verify_rest_response

    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    with pytest.raises(MlflowException) as raised:
        verify_rest_response(response, "/api/2.0/mlflow/runs/create")
    return raised.value


@pytest.mark.parametrize("status, kind", [(401, "unauthenticated"), (403, "denied"),
                                          (404, None), (500, None)])
def test_a_plain_page_is_classified_by_its_http_status_not_its_text(status, kind):
    """A basic-auth proxy answers a plain 401 page: MLflow gives it the status's code."""
    error = plain_answer(status)
    assert store.classify(error) == kind
    if status == 401:
        assert "HTTP 401" in store.explain(error)


@pytest.mark.parametrize("code, kind", [("RESOURCE_DOES_NOT_EXIST", "absent"),
                                        ("RESOURCE_ALREADY_EXISTS", "exists"),
                                        ("INVALID_PARAMETER_VALUE", "invalid"),
                                        ("INTERNAL_ERROR", None)])
def test_mlflow_s_answers_are_classified_by_error_code(code, kind):
    error = MlflowException("words that say otherwise: 403 locked",
                            error_code=getattr(databricks_pb2, code))
    assert store.classify(error) == kind
    assert store.explain(error) is None


class Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(500)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


def through_mlflow(uri, monkeypatch):
    """The error MLflow raises searching experiments of ``uri``, retrying once, at once."""
    import mlflow

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.setattr(store, "tracking_uri", lambda: uri)
    with pytest.raises(MlflowException) as raised:
        mlflow.MlflowClient(tracking_uri=uri).search_experiments()
    return raised.value


def test_a_server_that_answers_500_is_failing_not_unreachable(monkeypatch):
    """MLflow retries a 500 and then raises on the requests error: the server is up."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        error = through_mlflow(uri, monkeypatch)
    finally:
        server.shutdown()
        server.server_close()
    assert store.classify(error) == "failing"
    line = store.explain(error)
    assert line.startswith(f"the tracking server {uri} answered HTTP 500 "
                           "(a server error) every time; it is up but failing: see its log")
    assert "unreachable" not in line


def test_a_server_that_is_not_there_is_unreachable(monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    error = through_mlflow(uri, monkeypatch)
    assert store.classify(error) == "unreachable"
    assert store.explain(error).startswith(f"the tracking server {uri} is unreachable; start it")


def test_a_locked_sqlite_store_is_classified_by_sqlite_s_error_code(tmp_path, monkeypatch):
    from .conftest import locked_store_error

    error = locked_store_error(tmp_path / "mlflow.db")
    assert store.classify(error) == "locked" and store.transient(error)
    monkeypatch.setattr(store, "tracking_uri", lambda: "sqlite:///mlflow.db")
    assert store.explain(error).startswith("the SQLite store sqlite:///mlflow.db stayed locked")


def test_a_duplicate_row_is_a_conflict_one_more_attempt_resolves(tmp_path):
    import sqlalchemy

    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    with engine.begin() as db:
        db.execute(sqlalchemy.text("create table t (k text primary key)"))
        db.execute(sqlalchemy.text("insert into t values ('a')"))
    try:
        with engine.begin() as db:
            db.execute(sqlalchemy.text("insert into t values ('a')"))
    except sqlalchemy.exc.IntegrityError as exc:
        try:
            raise MlflowException(str(exc), error_code="BAD_REQUEST") from exc
        except MlflowException as wrapped:
            error = wrapped
    assert store.classify(error) == "conflict" and store.transient(error)
    assert not store.transient(sqlite3.OperationalError("database is locked"))  # no code


def test_other_errors_are_not_explained():
    assert store.classify(MlflowException("something else")) is None
    assert store.explain(MlflowException("something else")) is None
    assert store.explain(ValueError("bad value")) is None
    assert store.explain(MlflowException("database is locked; error code 401")) is None


def test_a_read_only_store_is_one_line_naming_the_fix(run_cli, store):
    """The store opened read-only (as on a read-only mount): MLflow logs the database error
    with its traceback before raising it; the command line says it once, in one line."""
    from trackfit.tracking.store import sqlite_path

    path = sqlite_path(store)
    train = run_cli("train", "--cv", "0")
    assert train.returncode == 0, train.stderr
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    result = run_cli("train", "--cv", "0", uri=read_only)
    assert result.returncode == 4  # a store failure
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"trackfit: error: the SQLite store {read_only} cannot be written (attempt "
                    "to write a readonly database); give this user write access to the file "
                    "and its folder, or point MLFLOW_TRACKING_URI at a store it can write")
    assert len(runs(store, "train")) == 1  # nothing written


def test_traceback_still_shows_mlflows_database_error(run_cli, store):
    from trackfit.tracking.store import sqlite_path

    run_cli("train", "--cv", "0")
    read_only = f"sqlite:///file:{sqlite_path(store)}?mode=ro&uri=true"
    result = run_cli("--traceback", "train", "--cv", "0", uri=read_only)
    assert result.returncode == 1
    assert "ERROR mlflow.store.db.utils: SQLAlchemy database error" in result.stderr
    assert "attempt to write a readonly database" in result.stderr
    assert "MlflowException" in result.stderr and "trackfit: error:" not in result.stderr
