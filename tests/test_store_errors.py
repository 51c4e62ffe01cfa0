"""store.explain tells store and server failures apart by the error MLflow raised."""

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2

from trackfit.tracking import store


@pytest.mark.parametrize("code, says", [
    (databricks_pb2.UNAUTHENTICATED, "refused the credentials (HTTP 401)"),
    (databricks_pb2.PERMISSION_DENIED, "denied this user the operation (HTTP 403)"),
])
def test_a_server_error_code_is_explained_by_its_status(code, says):
    assert says in store.explain(MlflowException("no JSON text to read", error_code=code))


def test_a_plain_401_page_is_explained_by_mlflow_s_text():
    text = "API request to endpoint /api/2.0/mlflow/runs/create failed with error code 401 != 200"
    assert "HTTP 401" in store.explain(MlflowException(text))


def test_other_errors_are_not_explained():
    assert store.explain(MlflowException("something else")) is None
    assert store.explain(ValueError("bad value")) is None
