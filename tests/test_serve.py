"""The champion over HTTP: `trackfit serve` (what `make serve` runs) answers as MLflow serves."""

import json
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

from .conftest import PROJECT, env_for, free_port, kill_tree, start_server, stopped_cleanly
from .test_trust_loading import assert_refused
from . import test_trust_limits

harmful = test_trust_limits.harmful  # the fixture: a crafted plugin model made champion


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
def test_serve_answers_refuses_a_missing_column_keeps_its_model_and_stops_on_sigterm(
        harmful, store, capsys):
    """One ``trackfit serve``, as a user's shell starts it: the input example, and the example
    file's rows as JSON (integers as integers), answered with trackfit's predictions; a
    missing column refused; a crafted model made champion meanwhile never loaded (the
    worker keeps the model it checked); SIGTERM to trackfit stops the model server it
    started; the curl line printed."""
    main(estimators=["linear"])
    new_patients = PROJECT / "examples" / "new_patients.csv"
    rows_as_read = pd.read_csv(new_patients)
    expected = list(predict(data=str(new_patients))["predictions"]["prediction"])
    example = input_example("models:/model-diabetes@champion")
    rows = example["dataframe_split"]["data"]
    assert len(rows) == 5 and "BMI" in example["dataframe_split"]["columns"]
    url = f"http://127.0.0.1:{free_port()}"
    process, below = start_server([sys.executable, "-m", "trackfit", "serve", "--port",
                            url.rsplit(":", 1)[1]], env_for(store), f"{url}/ping")
    try:
        status, before = post(f"{url}/invocations", example)
        assert status == 200, before
        predictions = before["predictions"]
        assert len(predictions) == len(rows)
        assert all(25 < p < 350 for p in predictions)  # Y ranges over 25..346
        patients = {"dataframe_split": json.loads(rows_as_read.to_json(orient="split",
                                                                      index=False))}
        assert patients["dataframe_split"]["data"][0][:3] == [1001, 42, 1]  # ints in the JSON
        status, answer = post(f"{url}/invocations", patients)
        assert status == 200, answer
        assert answer["predictions"] == expected

        split = example["dataframe_split"]
        keep = [i for i, name in enumerate(split["columns"]) if name != "BMI"]
        missing = {"dataframe_split": {"columns": [split["columns"][i] for i in keep],
                                       "data": [[row[i] for i in keep] for row in rows]}}
        status, answer = post(f"{url}/invocations", missing)
        assert status == 400
        assert "missing inputs ['BMI']" in answer["message"]

        harmful("segfault")  # someone with write access moves the alias to a crafted model
        assert_refused(capsys, "predict", phrases=["probing it crashed the process (signal 11"])
        for _ in range(3):
            assert post(f"{url}/invocations", example) == (200, before)
        assert process.poll() is None
    except BaseException:
        kill_tree(process.pid)
        raise
    code, printed = stopped_cleanly(process, below, f"{url}/ping", signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, printed
    assert f"curl -s {url}/invocations" in printed
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
