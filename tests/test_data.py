"""Data sources: files, URLs and run artifacts become the lab's frame; secrets never logged."""

import functools
import http.server
import threading

import mlflow
import pytest

from trackfit.engines import pandas as data, source
from trackfit.engines.source import parse
from trackfit.entrypoints.load import load
from trackfit.entrypoints.train import train

from .conftest import runs

SECRET = "sv=2024&sig=TOPSECRETSIGNATURE"


@pytest.mark.parametrize("url, shown", [
    ("https://acct.blob.core.windows.net/c/diabetes.parquet?" + SECRET,
     "https://acct.blob.core.windows.net/c/diabetes.parquet?***"),
    ("https://user:hunter2@example.org/d.csv", "https://user:***@example.org/d.csv"),
    ("abfs://c@acct.dfs.core.windows.net/diabetes.parquet",
     "abfs://c@acct.dfs.core.windows.net/diabetes.parquet"),
    ("/data/diabetes.csv", "/data/diabetes.csv"),
    ("C:\\data\\diabetes.csv", "C:\\data\\diabetes.csv"),
])
def test_redact_removes_passwords_and_tokens(url, shown):
    assert source.redact(url) == shown


def test_any_case_and_sklearn_names_become_the_labs_schema(tmp_path):
    frame = data.read(parse("diabetes"))  # sklearn's names: age ... s6, target
    path = tmp_path / "lower.tsv"
    frame.assign(extra="x").to_csv(path, sep="\t", index=False)
    loaded = data.load(parse(str(path)))
    assert list(loaded.columns) == data.FEATURES + ["Y"]
    assert loaded.shape == (442, 11) and (loaded.dtypes == "float64").all()


def test_a_load_run_artifact_feeds_training(store):
    loaded = load()
    run = mlflow.MlflowClient().get_run(loaded["run_id"])
    assert run.data.tags["trackfit.rows"] == "442"
    assert run.inputs.dataset_inputs[0].dataset.digest == loaded["digest"]
    trained = train("linear", data=loaded["uri"], cv=0)
    assert round(trained["metrics"]["test_r2_score"], 4) == 0.3929


@pytest.fixture
def http_server(tmp_path):
    """A file server on loopback serving the lab data as parquet."""
    data.read(parse("diabetes")).to_parquet(tmp_path / "diabetes.parquet")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the server's own log is not what trackfit printed
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_http_url_with_a_token_trains_and_the_token_is_never_logged(run_cli, store,
                                                                      http_server):
    url = f"{http_server}/diabetes.parquet?{SECRET}"
    result = run_cli("train", "--estimator", "linear", "--cv", "0", "--data", url)
    assert result.returncode == 0, result.stderr
    missing = run_cli("load", "--data", f"{http_server}/nothing.parquet?{SECRET}")
    assert missing.returncode == 2
    for output in (result.stdout, result.stderr, missing.stdout, missing.stderr):
        assert "TOPSECRET" not in output
    for run in runs(store):
        recorded = [run.data.params, run.data.tags, run.data.metrics,
                    [d.dataset.source for d in run.inputs.dataset_inputs]]
        assert "TOPSECRET" not in repr(recorded)
    (trained,) = runs(store, "train", "FINISHED")
    assert trained.data.params["data"].endswith("/diabetes.parquet?***")
    assert round(trained.data.metrics["test_r2_score"], 4) == 0.3929
