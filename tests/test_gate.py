"""The promotion gate: the champion moves only when a challenger is measurably better.

The champion here is a ridge regression (alpha=1), whose held-out R2 is 0.0010 below the
ordinary least squares model's (0.3919 and 0.3929): a challenger exactly that much better.
"""

import http.server
import re
import shlex
import threading
import time

import mlflow
import pytest

from trackfit import TrackfitError, cli
from trackfit.promotion import gate
from trackfit.entrypoints.compare import compare
from trackfit.entrypoints.register import register
from trackfit.entrypoints.train import train
from trackfit.promotion.policy import GateRefused

from .conftest import PROJECT, gate_of, locked_store_error, runs, versions
from .conftest import champion_version as champion

MODEL = "model-diabetes"
# The lab's exam, pinned by the first register: the 133 rows held out at random_state 0.
LAB_EXAM = ("exam diabetes, held-out 30% at random_state 0 (133 rows, target Y, digest "
            "c5d09cf4ec14a7a04cb94056539b2598)")


@pytest.fixture
def ridge_champion(store):
    """A store whose champion is the ridge model; the linear one, trained after, the
    challenger 0.0010 better."""
    ridge = train("ridge", {"alpha": 1.0}, cv=0)
    first = register()
    assert first["created"] and first["version"] == 1
    linear = train("linear", cv=0)
    gain = linear["metrics"]["test_r2_score"] - ridge["metrics"]["test_r2_score"]
    assert 0.0009 < gain < 0.0011
    return ridge, linear


def test_a_challenger_0_001_better_is_refused_at_min_improvement_0_01(store, ridge_champion,
                                                                       capsys):
    ridge, linear = ridge_champion
    capsys.readouterr()
    result = register(min_improvement=0.01)
    out = capsys.readouterr().out
    assert not result["accepted"] and result["version"] == 1
    assert [str(v.version) for v in versions(store)] == ["1"]
    assert champion(store).run_id == ridge["run_id"]
    (line,) = [line for line in out.splitlines() if line.startswith("register:")]
    assert line.startswith(f"register: refused run {linear['run_id']} (linear): ")
    assert "r2_score 0.3929 vs champion 0.3919: min_improvement 0.01 not met" in line
    assert line.endswith("alias champion stays on version 1")

    (run,) = [r for r in runs(store, "register", "FINISHED")
              if r.data.tags["trackfit.verdict"] == "refused"]
    assert run.data.params["min_improvement"] == "0.01"
    assert run.data.params["gate_metric"] == "r2_score"
    assert run.data.params["gate_rows"] == "133"
    assert run.data.metrics["gate_passed"] == 0
    assert run.data.metrics["gate_improvement"] == pytest.approx(0.0010, abs=1e-4)
    # both models scored by mlflow.models.evaluate on the same rows, in this run
    assert run.data.metrics["candidate_r2_score"] == pytest.approx(
        linear["metrics"]["test_r2_score"])
    assert run.data.metrics["champion_r2_score"] == pytest.approx(
        ridge["metrics"]["test_r2_score"])
    assert run.data.metrics["candidate_example_count"] == 133
    found = gate_of(run)
    assert found["accepted"] is False and list(found["failed"]) == ["min_improvement"]
    assert found["thresholds"]["min_improvement"] == 0.01
    assert found["candidate_run_id"] == linear["run_id"] and found["champion_version"] == "1"


def test_the_same_challenger_is_accepted_at_min_improvement_0_0005(store, ridge_champion,
                                                                     capsys):
    ridge, linear = ridge_champion
    result = register(min_improvement=0.0005)
    assert result["accepted"] and result["created"] and result["version"] == 2
    assert champion(store).run_id == linear["run_id"]
    assert "gate: r2_score 0.3929 vs champion 0.3919: passed" in capsys.readouterr().out
    accepted = [r for r in runs(store, "register", "FINISHED")
                if r.data.tags.get("trackfit.verdict") == "accepted"]
    assert len(accepted) == 2  # the first champion too
    # again: the best run is the champion now, nothing to judge
    again = register(min_improvement=0.0005)
    assert again["verdict"] == "kept" and again["version"] == 2
    assert sorted(str(v.version) for v in versions(store)) == ["1", "2"]


def test_relative_improvement_is_a_share_of_the_champion(store, ridge_champion):
    # 0.0010 / 0.3919 is 0.26 %: refused at 1 %, accepted at 0.1 %
    assert not register(min_relative_improvement=0.01)["accepted"]
    assert str(champion(store).version) == "1"
    assert register(min_relative_improvement=0.001)["accepted"]
    assert str(champion(store).version) == "2"


def test_a_floor_refuses_a_first_champion_and_nothing_is_registered(store, capsys):
    trained = train("linear", cv=0)
    result = register(threshold=0.4, min_improvement=0.5)  # the first faces the floor alone
    assert not result["accepted"] and result["version"] is None
    assert versions(store) == []
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == (f"register: refused run {trained['run_id']} (linear): r2_score 0.3929: "
                    f"threshold 0.4 not met, on {LAB_EXAM}; no version holds alias champion")
    assert register(threshold=0.35, min_improvement=0.5)["accepted"]
    assert champion(store).run_id == trained["run_id"]


def test_strict_makes_a_refusal_exit_5_for_ci(store, ridge_champion, capsys):
    assert cli.main(["register", "--min_improvement", "0.01", "--strict", "true"]) == 5
    err = capsys.readouterr().err
    assert err.startswith("trackfit: error: refused run ") and err.count("\n") == 1
    assert f"min_improvement 0.01 not met, on {LAB_EXAM}; alias champion stays on version 1" in err
    failed = runs(store, "register", "FAILED")
    assert len(failed) == 1 and failed[0].data.tags["trackfit.verdict"] == "refused"
    assert str(champion(store).version) == "1"
    with pytest.raises(GateRefused) as refused:
        register(min_improvement=0.01, strict=True)
    assert isinstance(refused.value, TrackfitError) and refused.value.code == 5
    assert cli.main(["register", "--min_improvement", "0.0005", "--strict", "true"]) == 0
    assert str(champion(store).version) == "2"


def test_a_lower_is_better_metric_is_checked_as_mlflow_does(store, ridge_champion, capsys):
    ridge, linear = ridge_champion
    metric = "test_mean_absolute_error"
    gain = ridge["metrics"][metric] - linear["metrics"][metric]  # linear's error is lower
    assert gain > 0
    result = register(metric=metric, min_improvement=round(gain * 2, 4))
    assert not result["accepted"]
    assert "mean_absolute_error" in capsys.readouterr().out
    # a ceiling, not a floor: an error above it is refused
    assert not register(metric=metric, threshold=round(linear["metrics"][metric] - 1, 2))[
        "accepted"]
    result = register(metric=metric, threshold=round(linear["metrics"][metric] + 1, 2),
                      min_improvement=round(gain / 2, 4))
    assert result["accepted"] and champion(store).run_id == linear["run_id"]
    run = [r for r in runs(store, "register", "FINISHED")
           if r.data.tags.get("trackfit.verdict") == "accepted"][0]
    assert gate_of(run)["greater_is_better"] is False


def test_a_metric_the_held_out_rows_cannot_give_is_one_line(store, ridge_champion, capsys):
    assert cli.main(["register", "--metric", "predict_ms_per_1k_rows"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trackfit: error: the gate compares held-out metrics; "
                          "'predict_ms_per_1k_rows' is not one: choose one of ")
    assert str(champion(store).version) == "1"


def test_data_that_changed_since_training_is_refused_not_used(store, tmp_path, capsys):
    from trackfit.engines import pandas as data
    from trackfit.engines.source import parse

    path = tmp_path / "lab.csv"
    frame = data.load(parse("diabetes"))
    frame.to_csv(path, index=False)
    train("linear", data=str(path), cv=0)
    frame.assign(Y=frame["Y"] + 1).to_csv(path, index=False)
    assert cli.main(["register"]) == 2
    err = capsys.readouterr().err
    assert "changed since it trained" in err and "never on new data" in err
    assert versions(store) == []


@pytest.mark.parametrize("change", ["deleted", "changed", "split edited"])
def test_a_best_run_the_gate_cannot_rebuild_names_itself_and_the_way_past(
        run_cli, store, tmp_path, change):
    """The best run's data file is gone or changed, or its recorded split was edited: the
    line names that run and what clears it (restore its data, or delete the run), not an
    option register does not have, and nothing is registered."""
    from trackfit.engines import pandas as data
    from trackfit.engines.source import parse

    path = tmp_path / "lab.csv"
    frame = data.load(parse("diabetes"))
    frame.to_csv(path, index=False)
    run_id = train("linear", data=str(path), cv=0)["run_id"]
    if change == "deleted":
        path.unlink()
    elif change == "changed":
        frame.assign(Y=frame["Y"] + 1).to_csv(path, index=False)
    else:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        with SqlAlchemyStore(store, "unused").ManagedSessionMaker() as session:
            session.execute(__import__("sqlalchemy").text(
                "update params set value = '-1' where key = 'random_state'"))
    result = run_cli("register")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert f"training run {run_id}" in line, line
    assert line.endswith(f"delete the run (mlflow runs delete --run-id {run_id}) so register "
                         "weighs the next best"), line
    assert versions(store) == []
    assert [r.info.status for r in runs(store, "register", None)] == ["FAILED"]


def test_every_training_run_logs_what_its_model_costs(store):
    trained = train("tree", cv=0)
    run = mlflow.get_run(trained["run_id"])
    assert run.data.metrics["predict_ms_per_1k_rows"] > 0
    assert run.data.metrics["model_size_bytes"] > 1000
    (model,) = mlflow.search_logged_models(output_format="list")
    shown = {m.key: m.value for m in model.metrics}
    assert shown["predict_ms_per_1k_rows"] == run.data.metrics["predict_ms_per_1k_rows"]
    assert {m.dataset_digest for m in model.metrics} == {run.data.tags["trackfit.data_digest"]}


def test_the_leaderboard_shows_cost_and_filters_by_latency(store):
    trained = {name: train(name, cv=0) for name in ("linear", "forest")}
    compared = compare()
    board = compared["leaderboard"]
    assert {"predict_ms_per_1k_rows", "model_size_bytes", "model_id"} <= set(board.columns)
    assert board["model_id"].notna().all()
    for name in ("leaderboard.csv", "leaderboard.md", "report.html"):  # named for its unit
        text = mlflow.artifacts.load_text(f"runs:/{compared['run_id']}/{name}")
        shown = re.sub(r"<[^>]*>", "", text)  # the page's headers break lines at _
        assert "predict_ms_per_1k_rows" in shown and "latency" not in text, name
    fast = trained["linear"]["metrics"]["predict_ms_per_1k_rows"]
    slow = trained["forest"]["metrics"]["predict_ms_per_1k_rows"]
    assert fast < slow
    limit = (fast + slow) / 2
    board = compare(max_latency_ms=limit)["leaderboard"]
    assert list(board["estimator"]) == ["linear"]
    assert cli.main(["compare", "--max_latency_ms", str(fast / 10)]) == 2


def test_ties_are_broken_by_latency(store):
    # the same model twice; the rank between equal scores goes to the faster one, here the
    # older run (the store's own order among equals is the newest first)
    first, second = train("linear", cv=0), train("linear", cv=0)
    client = mlflow.MlflowClient()
    client.log_metric(first["run_id"], "predict_ms_per_1k_rows", 1.0)
    client.log_metric(second["run_id"], "predict_ms_per_1k_rows", 9.0)
    board = compare()["leaderboard"]
    assert list(board["run_id"][:2]) == [first["run_id"], second["run_id"]]


def test_the_gate_reads_a_run_mlflow_run_started_with_its_quoted_params(store, tmp_path,
                                                                        run_cli):
    """``mlflow run`` logs each -P value quoted for the shell (``spark=''``, a path with a
    space in quotes) before trackfit's step runs in that run: the gate reads the values."""
    import shutil

    from mlflow.entities import Param
    from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENTRY_POINT

    data = tmp_path / "my patients.csv"
    shutil.copy(PROJECT / "examples" / "patients.csv", data)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("experiment-diabetes").experiment_id
    run = client.create_run(experiment, tags={MLFLOW_PROJECT_ENTRY_POINT: "train"})
    given = {"estimator": "linear", "data": str(data), "spark": "", "params": ""}
    client.log_batch(run.info.run_id, params=[Param(k, shlex.quote(v)) for k, v in given.items()])
    assert client.get_run(run.info.run_id).data.params["spark"] == "''"
    trained = run_cli("train", "--estimator", "linear", "--data", str(data), "--spark", "",
                      MLFLOW_RUN_ID=run.info.run_id)
    assert trained.returncode == 0, trained.stderr
    done = run_cli("register")
    assert done.returncode == 0, done.stderr
    assert f"registered new version 1 of {MODEL} (run {run.info.run_id}" in done.stdout
    assert champion(store).run_id == run.info.run_id


# Names and settings the registry would refuse halfway, and signals mid-register.

@pytest.mark.parametrize("option, value, phrase", [
    ("--alias", "latest", "alias 'latest' cannot be set: 'latest' alias name (case "
                          "insensitive) is reserved; pass letters, digits, _ and -"),
    ("--alias", "v7", "alias 'v7' cannot be set: Version alias name 'v7' is reserved"),
    ("--alias", "my alias", "alias 'my alias' cannot be set: Invalid alias name"),
    ("--model_name", "it's", "model_name \"it's\" holds a quote"),
    ("--model_name", "", "model_name is empty; pass a name for the registered model"),
    ("--model_name", "my@model", "model_name 'my@model' holds '@', which a "
                                 "models:/<name>@<alias> URI cannot carry"),
    ("--model_name", "team/model", "model_name 'team/model' holds '/', which a models:/"),
    ("--model_name", "a?b", "model_name 'a?b' holds '?', which a models:/"),
    ("--model_name", "..", "model_name '..' cannot be registered: "),
    ("--threshold", "nan", "threshold must be a finite number, got nan"),
    ("--min_improvement", "inf", "min_improvement must be a finite number, got inf"),
    ("--metric", "test_r2_score` > 0 or metrics.`x", "is not a metric name"),
])
def test_a_name_or_setting_the_registry_would_refuse_halfway_fails_first(
        run_cli, store, option, value, phrase):
    train("linear", cv=0)
    result = run_cli("register", option, value)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert phrase in line, line
    assert versions(store) == [] and runs(store, "register") == []  # before any run


def test_main_checks_the_alias_before_training(run_cli, store):
    result = run_cli("main", "--alias", "latest")
    assert result.returncode == 2 and "alias 'latest' cannot be set" in result.stderr
    assert runs(store, "train") == []


def test_main_checks_the_model_name_before_training(run_cli, store):
    result = run_cli("main", "--model_name", "lab@v2")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("trackfit: error: model_name 'lab@v2' holds '@'"), line
    assert runs(store, "train") == []


def test_an_infinite_metric_is_never_ranked(store, capsys):
    train("linear", cv=0)
    tree = train("tree", cv=0)
    mlflow.MlflowClient().log_metric(tree["run_id"], "test_r2_score", float("inf"))
    result = register()
    assert result["model_run_id"] != tree["run_id"]
    assert round(result["value"], 4) == 0.3929


@pytest.mark.parametrize("signum, code, line", [
    ("SIGINT", 130, "trackfit: interrupted"), ("SIGTERM", 143, "trackfit: stopped by signal 15"),
])
def test_a_signal_once_the_version_exists_still_sets_its_alias(run_cli, store, monkeypatch,
                                                               signum, code, line):
    """The signal arrives right after the version is made: the alias and tags are written
    first, then the step stops KILLED with the signal's exit code."""
    import os
    import signal

    train("linear", cv=0)
    made = mlflow.register_model

    def register_then_signal(*args, **kwargs):
        version = made(*args, **kwargs)
        os.kill(os.getpid(), getattr(signal, signum))
        return version

    monkeypatch.setattr(mlflow, "register_model", register_then_signal)
    result = run_cli("register")
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().splitlines()[-1] == line
    assert str(champion(store).version) == "1"
    (run,) = runs(store, "register")
    assert run.info.status == "KILLED" and run.data.tags["trackfit.model_version"] == "1"


def test_sigterm_mid_step_ends_the_run_killed(run_cli, store, monkeypatch):
    import os
    import signal

    from trackfit.fitting import training

    def fit_then_term(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(training, "log_model", fit_then_term)
    result = run_cli("train", "--cv", "0")
    assert result.returncode == 143
    assert result.stderr.strip().splitlines()[-1] == "trackfit: stopped by signal 15"
    assert [r.info.status for r in runs(store, "train", None)] == ["KILLED"]


@pytest.mark.parametrize("failing", ["get_model_version_by_alias", "get_run"])
def test_a_store_error_reading_the_champion_never_reads_as_no_champion(
        run_cli, store, ridge_champion, monkeypatch, failing, tmp_path):
    """A locked store or a server that is down while register looks up the champion (or
    the champion's run) stops the register: read as "no champion", the gate would let any
    challenger take the alias without a comparison."""
    ridge, _ = ridge_champion
    real = getattr(mlflow.MlflowClient, failing)
    error = locked_store_error(tmp_path / "locked.db")

    def locked(self, *args, **kwargs):
        if failing == "get_run" and args[0] != ridge["run_id"]:
            return real(self, *args, **kwargs)
        raise error

    monkeypatch.setattr(mlflow.MlflowClient, failing, locked)
    result = run_cli("register", "--min_improvement", "0")
    monkeypatch.undo()
    assert result.returncode == 4, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("trackfit: error: the SQLite store ") and "locked" in line, line
    assert [str(v.version) for v in versions(store)] == ["1"]
    assert champion(store).run_id == ridge["run_id"]
    assert [r.info.status for r in runs(store, "register", None)] == ["FAILED", "FINISHED"]


# What the gate reads again, and how long it may take (SECURITY.md, "What the gate reads").

class LabFiles(http.server.BaseHTTPRequestHandler):
    """The lab's rows as parquet at any path; once ``trickle`` is set, one byte a second
    of them (for 30 s at most), as a server that never falls silent long enough for a
    socket's timeout."""

    body, trickle, paths = b"", threading.Event(), []

    def do_GET(self):  # noqa: N802 - http.server's name
        self.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        if not self.trickle.is_set():
            self.wfile.write(self.body)
            return
        for byte in self.body[:30]:
            time.sleep(1)
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # the reader gave up: what the test waits for
                return

    def log_message(self, *args):
        pass


@pytest.fixture
def lab_server(tmp_path):
    """A loopback server of the lab's rows (LabFiles); yields its base URL."""
    from trackfit.engines import pandas as data
    from trackfit.engines.source import parse

    data.read(parse("diabetes")).to_parquet(tmp_path / "lab.parquet")
    handler = type("Served", (LabFiles,), {"body": (tmp_path / "lab.parquet").read_bytes(),
                                           "trickle": threading.Event(), "paths": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.handler = handler
    yield server
    server.shutdown()
    server.server_close()


def test_the_gate_fetches_no_url_the_registrar_did_not_list(run_cli, store, lab_server):
    """A run's data address is whatever its author logged: the gate fetches a URL only
    under a prefix listed in TRACKFIT_GATE_SOURCES, and says so in one line."""
    base = f"http://127.0.0.1:{lab_server.server_address[1]}"
    run_id = train("linear", data=f"{base}/team/lab.parquet", cv=0)["run_id"]
    asked = len(lab_server.handler.paths)
    for listed in ("", f"{base}/other/", f"{base}/tea", "http://127.0.0.1/team/"):
        result = run_cli("register", TRACKFIT_GATE_SOURCES=listed)
        assert result.returncode == 2, result.stdout
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"trackfit: error: the gate will not fetch the data of "
                               f"training run {run_id}, {base}/team/lab.parquet: "), line
        assert f"list it in TRACKFIT_GATE_SOURCES (e.g. TRACKFIT_GATE_SOURCES={base}/)" in line
    assert len(lab_server.handler.paths) == asked  # not one request
    assert versions(store) == []
    assert [r.info.status for r in runs(store, "register")] == ["FAILED"] * 4
    for listed in (f"{base}/team/", f"other,{base}/team", "*"):
        result = run_cli("register", TRACKFIT_GATE_SOURCES=listed)
        assert result.returncode == 0, result.stderr
    assert champion(store).run_id == run_id
    assert lab_server.handler.paths[asked:] == ["/team/lab.parquet"]  # judged once, then kept


def test_a_url_that_trickles_stops_the_gate_at_the_read_deadline(run_cli, store, lab_server):
    """A server sending a byte a second never trips a socket's silence timeout: the read's
    total deadline (TRACKFIT_READ_TIMEOUT) stops it, in one line, with nothing registered."""
    url = f"http://127.0.0.1:{lab_server.server_address[1]}/lab.parquet"
    run_id = train("linear", data=url, cv=0)["run_id"]
    lab_server.handler.trickle.set()
    started = time.monotonic()
    result = run_cli("register", TRACKFIT_READ_TIMEOUT="2", TRACKFIT_GATE_SOURCES=url)
    took = time.monotonic() - started
    assert result.returncode == 2, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"trackfit: error: the gate cannot read the data of training run "
                           f"{run_id}, the best by the metric: data '{url}' did not arrive "
                           "within 2 s (TRACKFIT_READ_TIMEOUT): its server is slow or "
                           "stalled, or the file too large for that time; "), line
    assert 2 <= took < 8, took
    assert versions(store) == []
    assert [r.info.status for r in runs(store, "register")] == ["FAILED"]


@pytest.mark.parametrize("value", ["0", "-5", "soon", "inf"])
def test_a_read_deadline_that_is_not_seconds_is_one_line(run_cli, store, lab_server, value):
    url = f"http://127.0.0.1:{lab_server.server_address[1]}/lab.parquet"
    result = run_cli("train", "--data", url, "--cv", "0", TRACKFIT_READ_TIMEOUT=value)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"trackfit: error: TRACKFIT_READ_TIMEOUT={value!r} is not a number of "
                    "seconds above 0; set it to one, e.g. TRACKFIT_READ_TIMEOUT=300, or unset it")


# Registers at once: the alias moves by compare-and-set.

def test_a_champion_promoted_while_the_gate_judged_is_judged_against(store, capsys,
                                                                     monkeypatch):
    """The slow register judged ridge against the tree; meanwhile linear was trained and a
    second register promoted it. Just before moving the alias the slow one sees it moved,
    judges ridge against linear, and refuses: linear stays, nothing else is registered."""
    tree = train("tree", cv=0)
    register()
    ridge = train("ridge", {"alpha": 1.0}, cv=0)
    logged, others = gate.log, []

    def meanwhile(*args, **kwargs):
        reason = logged(*args, **kwargs)
        if not others:  # the slow register's first verdict: another team member acts now
            others.append(threading.Thread(target=lambda: others.append(
                (train("linear", cv=0), register()))))
            others[0].start()
            others[0].join()
        return reason

    monkeypatch.setattr(gate, "log", meanwhile)
    slow = register()
    linear, promoted = others[1]
    assert promoted["accepted"] and promoted["version"] == 2
    assert not slow["accepted"] and slow["version"] == 2
    assert champion(store).run_id == linear["run_id"]
    assert sorted(str(v.version) for v in versions(store)) == ["1", "2"]
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == (f"register: refused run {ridge['run_id']} (ridge): r2_score 0.3919 vs "
                    f"champion 0.3929: not better than the champion, on {LAB_EXAM}; alias "
                    "champion stays on version 2")
    found = gate_of(mlflow.get_run(slow["run_id"]))
    assert found["champion_version"] == "2" and found["candidate_run_id"] == ridge["run_id"]
    assert tree["run_id"] != linear["run_id"]


def test_an_alias_that_keeps_moving_stops_the_register_in_one_line(run_cli, store,
                                                                   ridge_champion,
                                                                   monkeypatch):
    """Someone moves the alias between the ridge and the tree after every verdict: after
    three judgements the register stops, moving nothing and registering nothing."""
    ridge, linear = ridge_champion
    client = mlflow.MlflowClient()
    tree = str(client.create_model_version(MODEL, train("tree", cv=0)["model_uri"]).version)
    logged = gate.log

    def moved_after(*args, **kwargs):
        reason = logged(*args, **kwargs)
        now = str(client.get_model_version_by_alias(MODEL, "champion").version)
        client.set_registered_model_alias(MODEL, "champion", tree if now == "1" else "1")
        return reason

    monkeypatch.setattr(gate, "log", moved_after)
    result = run_cli("register")
    assert result.returncode == 4, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"trackfit: error: alias champion of {MODEL} moved 3 times while this "
                    f"register judged (to version {tree}, then 1, then {tree}): other "
                    "registers are promoting at the same time; nothing was moved, run "
                    "register again once they are done")
    assert sorted(str(v.version) for v in versions(store)) == ["1", str(tree)]
    assert [r.info.status for r in runs(store, "register")] == ["FAILED", "FINISHED"]
    assert linear["run_id"] not in {v.run_id for v in versions(store)}


def test_an_evaluation_dataset_another_gate_just_logged_is_reused(store, capsys):
    """Another gate inserts the same evaluation rows as a dataset of the experiment between
    this gate's look for them and its own insert (the store's duplicate key, as two
    registers at once meet it): the register logs its input again, reusing that record,
    and finishes."""
    from mlflow.entities import Dataset, DatasetInput
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    trained = train("linear", cv=0)
    client = mlflow.MlflowClient()
    other = client.create_run(mlflow.get_run(trained["run_id"]).info.experiment_id)
    raced = []

    def insert_first(conn, cursor, statement, parameters, context, executemany):
        if raced or not statement.lstrip().upper().startswith("INSERT INTO DATASETS"):
            return
        row = parameters[0] if executemany else parameters
        _, _, name, digest, source_type, source, schema, profile = row
        raced.append(name)
        same = Dataset(name, digest, source_type, source, schema, profile)
        logger = threading.Thread(target=client.log_inputs,
                                  args=(other.info.run_id, [DatasetInput(same)]))
        logger.start()
        logger.join()

    event.listen(Engine, "before_cursor_execute", insert_first)
    try:
        result = register()
    finally:
        event.remove(Engine, "before_cursor_execute", insert_first)
    assert raced, "the gate logged no dataset"
    assert result["accepted"] and result["version"] == 1
    assert champion(store).run_id == trained["run_id"]
    (run,) = runs(store, "register", "FINISHED")
    (used,) = {i.dataset.digest for i in run.inputs.dataset_inputs}
    assert used in {i.dataset.digest for i in client.get_run(other.info.run_id).inputs.dataset_inputs}
