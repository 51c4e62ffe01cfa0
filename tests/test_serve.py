"""The champion over HTTP: `trackfit serve` (what `make serve` runs) answers as MLflow serves."""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pandas as pd
import pytest

from trackfit.entrypoints.main import main
from trackfit.entrypoints.predict import predict
from trackfit.entrypoints.serve import curl, input_example

from .conftest import PROJECT, env_for, free_port, wait_for_http


def post(url, body):
    """POST ``body`` as JSON; returns (status, decoded JSON answer)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow  # starts the server
def test_serve_answers_the_input_example_and_refuses_a_missing_column(store, tmp_path):
    """Also the example file's rows as JSON, integers as integers: trackfit's predictions."""
    main(estimators=["linear"])
    new_patients = PROJECT / "examples" / "new_patients.csv"
    rows_as_read = pd.read_csv(new_patients)
    expected = list(predict(data=str(new_patients))["predictions"]["prediction"])
    example = input_example("models:/model-diabetes@champion")
    rows = example["dataframe_split"]["data"]
    assert len(rows) == 5 and "BMI" in example["dataframe_split"]["columns"]
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "trackfit", "serve", "--port", str(port)],
            cwd=tmp_path, env=env_for(store), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server)
        status, answer = post(f"http://127.0.0.1:{port}/invocations", example)
        assert status == 200, answer
        predictions = answer["predictions"]
        assert len(predictions) == len(rows)
        assert all(25 < p < 350 for p in predictions)  # Y ranges over 25..346
        patients = {"dataframe_split": json.loads(rows_as_read.to_json(orient="split",
                                                                      index=False))}
        assert patients["dataframe_split"]["data"][0][:3] == [1001, 42, 1]  # ints in the JSON
        status, answer = post(f"http://127.0.0.1:{port}/invocations", patients)
        assert status == 200, answer
        assert answer["predictions"] == expected

        split = example["dataframe_split"]
        keep = [i for i, name in enumerate(split["columns"]) if name != "BMI"]
        missing = {"dataframe_split": {"columns": [split["columns"][i] for i in keep],
                                       "data": [[row[i] for i in keep] for row in rows]}}
        status, answer = post(f"http://127.0.0.1:{port}/invocations", missing)
        assert status == 400
        assert "missing inputs ['BMI']" in answer["message"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    printed = log.read_text()
    assert f"curl -s http://127.0.0.1:{port}/invocations" in printed
    assert '"columns":["AGE","SEX","BMI"' in printed


def test_serve_without_a_champion_says_so(run_cli, store):
    done = run_cli("serve", "--port", str(free_port()), cwd=PROJECT)
    assert done.returncode == 2
    assert done.stderr.startswith("trackfit: error: cannot find model "
                                  "'models:/model-diabetes@champion'")
    assert len(done.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_host_that_is_not_loopback(run_cli, store):
    done = run_cli("serve", "--host", "0.0.0.0")
    assert done.returncode == 2
    assert "is not loopback" in done.stderr


def test_the_curl_line_keeps_a_quote_in_the_example_as_data(tmp_path):
    """Pasting the printed line into a shell posts the example, and runs nothing of it."""
    example = {"dataframe_split": {"columns": ["NOTE"],
                                   "data": [["it's'; touch pwned; echo '"]]}}
    line = curl(example, "127.0.0.1", 5001)
    assert line.startswith("curl -s http://127.0.0.1:5001/invocations -H ")
    # The shell runs the line with a curl that prints the body it would post.
    pasted = subprocess.run(["bash", "-c", 'curl() { printf %s "${@: -1}"; }\n' + line],
                            cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert pasted.returncode == 0, pasted.stderr
    assert json.loads(pasted.stdout) == example
    assert list(tmp_path.iterdir()) == []
