"""store.explain tells store and server failures apart by the error MLflow raised."""

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from trackfit.tracking import store

from .conftest import runs


@pytest.mark.parametrize("code, says", [
    (databricks_pb2.UNAUTHENTICATED, "refused the credentials (HTTP 401)"),
    (databricks_pb2.PERMISSION_DENIED, "denied this user the operation (HTTP 403)"),
])
def test_a_server_error_code_is_explained_by_its_status(code, says):
    assert says in store.explain(MlflowException("no JSON text to read", error_code=code))


def test_a_plain_401_page_is_explained_by_mlflow_s_text():
    text = "API request to endpoint /api/2.0/mlflow/runs/create failed with error code 401 != 200"
    assert "HTTP 401" in store.explain(MlflowException(text))


def test_a_server_that_answers_500_is_failing_not_unreachable(monkeypatch):
    """MLflow retries a 500 and then words it as urllib3 does; the server is up."""
    monkeypatch.setattr(store, "tracking_uri", lambda: "http://127.0.0.1:5999")
    text = ("API request to http://127.0.0.1:5999/api/2.0/mlflow/runs/search failed with "
            "exception HTTPConnectionPool(host='127.0.0.1', port=5999): Max retries exceeded "
            "with url: /api/2.0/mlflow/runs/search (Caused by ResponseError('too many 500 "
            "error responses'))")
    line = store.explain(MlflowException(text))
    assert line.startswith("the tracking server http://127.0.0.1:5999 answered HTTP 500 "
                           "(a server error) every time; it is up but failing: see its log")
    assert "unreachable" not in line


def test_other_errors_are_not_explained():
    assert store.explain(MlflowException("something else")) is None
    assert store.explain(ValueError("bad value")) is None


def test_a_read_only_store_is_one_line_naming_the_fix(run_cli, store):
    """The store opened read-only (as on a read-only mount): MLflow logs the database error
    with its traceback before raising it; the command line says it once, in one line."""
    from trackfit.tracking.store import sqlite_path

    path = sqlite_path(store)
    train = run_cli("train", "--cv", "0")
    assert train.returncode == 0, train.stderr
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    result = run_cli("train", "--cv", "0", uri=read_only)
    assert result.returncode == 1
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
