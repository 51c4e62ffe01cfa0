"""The team's exam: the gate scores every challenger and the champion on rows pinned to the
registered model, never on rows the challenger chose or trained on."""

import json
import threading

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from trackfit import TrackfitError, cli
from trackfit.engines import pandas as engine
from trackfit.engines.source import FEATURES, TARGET, parse
from trackfit.entrypoints.main import main
from trackfit.entrypoints.register import register
from trackfit.entrypoints.train import train
from trackfit.fitting.split import Split, split
from trackfit.promotion import exam as exams

from .conftest import EXPERIMENT, env_for, gate_of, runs, start_racers, versions
from .conftest import champion_version as champion

MODEL = "model-diabetes"
LAB_DIGEST = "c5d09cf4ec14a7a04cb94056539b2598"
LAB_EXAM = ("exam diabetes, held-out 30% at random_state 0 (133 rows, target Y, digest "
            f"{LAB_DIGEST})")


def lab():
    return engine.load(parse("diabetes"))


def lab_sides():
    """(training rows, held-out rows) of the lab's split, as frames of the lab's columns."""
    frame = lab()
    X_train, X_test, y_train, y_test = split(frame, Split())
    return X_train.assign(Y=y_train), X_test.assign(Y=y_test)


def tags_of(uri):
    return mlflow.MlflowClient(tracking_uri=uri).get_registered_model(MODEL).tags


def only_line(text, start):
    (line,) = [line for line in text.splitlines() if line.startswith(start)]
    return line


def test_the_lab_pins_its_held_out_rows_and_keeps_its_champion_and_numbers(store, capsys):
    done = main(cv=0)
    out = capsys.readouterr().out
    registered = done["register"]
    trained = {r["estimator"]: r for r in done["train"]}
    assert registered["version"] == 1 and registered["created"]
    assert registered["model_run_id"] == trained["linear"]["run_id"]
    assert round(registered["value"], 4) == 0.3929
    assert round(trained["tree"]["metrics"]["test_r2_score"], 4) == 0.1066
    line = only_line(out, "register: pinned exam ")
    assert line.startswith(f"register: pinned exam {LAB_EXAM[len('exam '):]} to {MODEL}, "
                           "the held-out rows of the first challenger")
    pinned = exams.read(MODEL)
    assert (pinned.source, pinned.split, pinned.rows, pinned.target, pinned.digest) == (
        "diabetes", "held-out test_size=0.3 random_state=0", 133, "Y", LAB_DIGEST)
    assert pinned.columns == tuple(FEATURES) and pinned.by and pinned.at
    assert f"gate: r2_score 0.3929: passed, on {LAB_EXAM}), alias champion -> 1" in out
    (run,) = runs(store, "register", "FINISHED")
    params = run.data.params
    assert (params["exam_source"], params["exam_digest"], params["exam_rows"],
            params["exam_target"]) == ("diabetes", LAB_DIGEST, "133", "Y")
    found = gate_of(run.info.run_id)
    assert found["exam"]["digest"] == LAB_DIGEST and found["rows"] == 133
    assert run.data.metrics["candidate_r2_score"] == pytest.approx(0.3929, abs=5e-5)
    # the exam is what the lab held out: the lab's own numbers, scored again by the gate
    _, held = lab_sides()
    assert exams.digest(exams.hashes(held[FEATURES], held[TARGET], TARGET), FEATURES,
                        TARGET) == LAB_DIGEST
    # and again: the champion is the best run, kept, and the exam untouched
    again = main(cv=0)["register"]
    assert again["version"] == 1 and exams.read(MODEL) == pinned


def test_a_tripled_rows_challenger_is_refused_and_the_registry_is_unchanged(
        store, tmp_path, run_cli):
    linear = train("linear", cv=0)
    register()
    before = (tags_of(store), [str(v.version) for v in versions(store)])
    frame = lab()
    pd.concat([frame, frame, frame]).to_csv(tmp_path / "tripled.csv", index=False)
    deep = train("tree", {"max_depth": None}, data=str(tmp_path / "tripled.csv"), cv=0)
    # its own held-out rows are copies of rows it trained on: there it beats the champion
    assert deep["metrics"]["test_r2_score"] > 0.3929 + 0.1
    result = run_cli("register", "--min_improvement", "0.1", "--strict", "true")
    assert result.returncode == 5
    (line,) = result.stderr.strip().splitlines()
    # 131 of the 133 exam rows (at least one copy each) are among its 718 training rows
    assert line == (f"trackfit: error: refused run {deep['run_id']} (tree): its training rows "
                    "share 131 of the exam's 133 rows (by row hash over its columns and Y): "
                    "it would be examined on rows it learned from; train it on data without "
                    "the exam's rows, or delete the run (mlflow runs delete --run-id "
                    f"{deep['run_id']}) so register weighs the next best; {LAB_EXAM}; alias "
                    "champion stays on version 1")
    assert (tags_of(store), [str(v.version) for v in versions(store)]) == before
    assert champion(store).run_id == linear["run_id"]
    (refused,) = runs(store, "register", "FAILED")
    assert refused.data.tags["trackfit.verdict"] == "refused"
    assert refused.data.metrics["gate_candidate_shared_rows"] == 131
    assert gate_of(refused.info.run_id)["candidate_shared"] == 131


def test_a_tables_own_duplicate_rows_are_not_a_leak_but_the_same_table_split_again_is(
        store, tmp_path, run_cli):
    """A table with duplicate rows (diamonds has 146) puts copies on both sides of any
    split. The exam pinned from a challenger's held-out rows pins the whole table's digest:
    a challenger of that table is counted by position in it, so those copies are no leak,
    while the same table split another way is refused for the rows it did learn."""
    frame = lab()
    twice = tmp_path / "twice.csv"
    pd.concat([frame, frame.iloc[:60]], ignore_index=True).to_csv(twice, index=False)
    X_train, X_test, y_train, y_test = split(engine.load(parse(str(twice))), Split())
    copies = np.isin(exams.hashes(X_test, y_test, TARGET), exams.hashes(X_train, y_train, TARGET))
    assert copies.sum() > 0  # by row hash alone, these would refuse it
    linear = train("linear", data=str(twice), cv=0)
    result = register()
    assert result["accepted"] and result["version"] == 1
    pinned = exams.read(MODEL)
    assert pinned.table == mlflow.get_run(linear["run_id"]).data.tags["trackfit.data_digest"]
    (run,) = runs(store, "register", "FINISHED")
    assert run.data.metrics["gate_candidate_shared_rows"] == 0

    # the same table, split at another seed (its own held-out score the best): it trained
    # on rows the exam holds
    other = train("linear", data=str(twice), random_state=5, cv=0)
    rows = np.arange(len(frame) + 60)
    held = train_test_split(rows, test_size=0.3, random_state=0)[1]
    learned = int(np.isin(held, train_test_split(rows, test_size=0.3, random_state=5)[0]).sum())
    result = run_cli("register", "--min_improvement", "0.0", "--strict", "true")
    assert result.returncode == 5
    (line,) = result.stderr.strip().splitlines()
    assert (f"refused run {other['run_id']} (linear): its training rows share {learned} of the "
            f"exam's {len(held)} rows (the same rows of the table the exam was held out of)"
            in line)

    # a table made to keep the exam's rows where they were and copy them over the training
    # rows is another table: counted by row hash, refused
    order = rows.copy()
    others = np.setdiff1d(rows, held)
    order[others] = held[np.arange(len(others)) % len(held)]
    pd.read_csv(twice).iloc[order].to_csv(twice, index=False)
    mlflow.delete_run(other["run_id"])
    copied = train("tree", {"max_depth": None}, data=str(twice), cv=0)
    result = run_cli("register", "--strict", "true")
    assert result.returncode == 5
    assert (f"refused run {copied['run_id']} (tree): its training rows share {len(held)} of "
            f"the exam's {len(held)} rows (by row hash over its columns and Y)"
            in result.stderr)
    assert champion(store).run_id == linear["run_id"]


def test_a_challenger_trained_on_another_file_is_scored_on_the_pinned_exam(store, tmp_path):
    """The team pinned the lab's held-out rows; a challenger trained on a file of its own
    (the lab's training rows, split again) is scored on those 133 rows, not on its own."""
    linear = train("linear", cv=0)
    register()
    training, held = lab_sides()
    training.to_csv(tmp_path / "mine.csv", index=False)
    ridge = train("ridge", {"alpha": 0.001}, data=str(tmp_path / "mine.csv"), cv=0)
    own = ridge["metrics"]["test_r2_score"]  # on 93 rows of its own choosing
    result = register(min_improvement=0.5)
    assert not result["accepted"]
    run = mlflow.get_run(result["run_id"])
    model = mlflow.sklearn.load_model(ridge["model_uri"])
    on_exam = r2_score(held[TARGET], model.predict(held[FEATURES]))
    assert run.data.metrics["candidate_r2_score"] == pytest.approx(on_exam)
    assert run.data.metrics["candidate_example_count"] == 133
    assert round(on_exam, 4) != round(own, 4)
    assert run.data.metrics["champion_r2_score"] == pytest.approx(
        linear["metrics"]["test_r2_score"])
    assert run.data.params["exam_digest"] == LAB_DIGEST
    assert run.data.metrics["gate_champion_shared_rows"] == 0
    assert champion(store).run_id == linear["run_id"]


def test_an_exam_file_changed_after_pinning_is_one_line_and_nothing_is_promoted(
        store, tmp_path, run_cli):
    _, held = lab_sides()
    path = tmp_path / "exam.csv"
    held.to_csv(path, index=False)
    linear = train("linear", cv=0)
    pinned = run_cli("register", "--exam", str(path))
    assert pinned.returncode == 0, pinned.stderr
    line = only_line(pinned.stdout, "register: pinned exam ")
    assert line.startswith(f"register: pinned exam {path} (133 rows, target Y, digest ")
    held.assign(Y=held[TARGET] + np.where(np.arange(len(held)) == 5, 1.0, 0.0)).to_csv(
        path, index=False)
    train("tree", cv=0)  # the lab's rule picks it as the challenger
    result = run_cli("register", "--metric", "training_r2_score")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"trackfit: error: the exam of {MODEL} changed since it was "
                           f"pinned: {path} now has 133 rows with digest "), line
    assert "nothing was promoted: restore those rows, or pin the new ones with trackfit " \
           f"exam set {path} --model_name {MODEL}" in line
    assert [str(v.version) for v in versions(store)] == ["1"]
    assert champion(store).run_id == linear["run_id"]
    assert [r.info.status for r in runs(store, "register", None)] == ["FAILED", "FINISHED"]


@pytest.mark.slow  # two processes (conftest.start_racers); the in-process race is below
def test_two_registers_racing_with_different_exams_pin_one_and_both_say_which(
        store, tmp_path):
    """Two processes at once, each registering with an exam of its own: one pin wins, the
    other register stops in one line naming the exam that won, and registers nothing."""
    _, held = lab_sides()
    paths = [tmp_path / "exam-a.csv", tmp_path / "exam-b.csv"]
    held.iloc[:70].to_csv(paths[0], index=False)
    held.iloc[70:].to_csv(paths[1], index=False)
    train("linear", cv=0)
    env = env_for(store)
    for n in range(2):
        (tmp_path / f"race-{n}").mkdir()
    racers = [start_racers(1, ["register", "--exam", str(path)], env, tmp_path,
                           tmp_path / f"race-{n}")[0] for n, path in enumerate(paths)]
    done = [(r.communicate(timeout=600), r.returncode) for r in racers]
    pinned = exams.read(MODEL)
    winner = [n for n, path in enumerate(paths) if pinned.source == str(path)]
    assert len(winner) == 1
    (won, won_code), (lost, lost_code) = done[winner[0]], done[1 - winner[0]]
    assert won_code == 0, won[1]
    assert only_line(won[0], "register: pinned exam ").startswith(
        f"register: pinned exam {pinned.named()} to {MODEL}")
    assert lost_code == 2
    (line,) = lost[1].strip().splitlines()
    assert line.startswith(f"trackfit: error: the exam of {MODEL} is {pinned.named()}, "
                           f"pinned by {pinned.by} at {pinned.at}; yours, "
                           f"{paths[1 - winner[0]]} ("), line
    assert "was not pinned and nothing was promoted" in line
    assert [str(v.version) for v in versions(store)] == ["1"]


def test_registers_that_both_read_no_exam_pin_one(store, tmp_path, monkeypatch, capsys):
    """Both registers read "no exam" before either pins (held at a barrier there): the
    compare-and-set lets one pin; the other names the winner."""
    _, held = lab_sides()
    paths = [tmp_path / "exam-a.csv", tmp_path / "exam-b.csv"]
    held.iloc[:70].to_csv(paths[0], index=False)
    held.iloc[70:].to_csv(paths[1], index=False)
    train("linear", cv=0)
    barrier, made = threading.Barrier(2, timeout=60), exams.from_data

    def read_then_wait(*args, **kwargs):
        found = made(*args, **kwargs)
        barrier.wait()
        return found

    monkeypatch.setattr(exams, "from_data", read_then_wait)
    outcomes = {}

    def one(path):
        try:
            outcomes[path] = register(exam=str(path))
        except TrackfitError as exc:
            outcomes[path] = exc

    threads = [threading.Thread(target=one, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pinned = exams.read(MODEL)
    won = [p for p in paths if pinned.source == str(p)]
    assert len(won) == 1
    (lost,) = [p for p in paths if p not in won]
    assert outcomes[won[0]]["accepted"]
    assert isinstance(outcomes[lost], TrackfitError)
    assert str(outcomes[lost]).startswith(f"the exam of {MODEL} is {pinned.named()}")
    assert only_line(capsys.readouterr().out, "register: pinned exam ").startswith(
        f"register: pinned exam {pinned.named()}")


def test_exam_set_needs_its_rows_to_be_the_models_and_prints_the_change(store, tmp_path,
                                                                        run_cli):
    train("linear", cv=0)
    register()
    _, held = lab_sides()
    path = tmp_path / "team.parquet"
    held.iloc[:100].to_parquet(path)
    done = run_cli("exam", "set", str(path))
    assert done.returncode == 0, done.stderr
    now = exams.read(MODEL)
    assert done.stdout.strip() == (f"exam: {MODEL}: {LAB_EXAM[len('exam '):]} -> "
                                   f"{now.named()}, by {now.by} at {now.at}")
    shown = run_cli("exam", "show")
    assert f"source: {path}" in shown.stdout and "rows: 100" in shown.stdout
    # a file lacking a column the model reads is one line, and the exam stays
    held.drop(columns=["BMI"]).to_csv(tmp_path / "narrow.csv", index=False)
    narrow = run_cli("exam", "set", str(tmp_path / "narrow.csv"))
    assert narrow.returncode == 2
    (line,) = narrow.stderr.strip().splitlines()
    assert "BMI" in line and exams.read(MODEL) == now
    # the next register is judged on the new exam, which names it
    train("ridge", {"alpha": 1.0}, cv=0)
    train("tree", cv=0)
    result = register(metric="training_r2_score")  # the lab's rule picks the tree
    assert not result["accepted"]
    assert f"on exam {path} (100 rows, target Y, digest {now.digest})" in result["reason"]


def test_an_exam_of_another_target_is_refused_in_one_line(store, run_cli):
    train("linear", cv=0)
    register()
    client = mlflow.MlflowClient()
    client.set_registered_model_tag(MODEL, "trackfit.exam.target", "BMI")
    train("tree", cv=0)
    result = run_cli("register", "--metric", "training_r2_score")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "and target BMI; the model of run " in line and "predicts Y" in line, line
    assert [str(v.version) for v in versions(store)] == ["1"]


def test_a_champion_that_trained_on_exam_rows_is_named_in_the_verdict(store, tmp_path,
                                                                     run_cli):
    """The champion trained on 90% of the whole lab; then the team pins the lab's held-out
    rows as the exam, most of which the champion saw: every verdict says so."""
    frame = lab()
    frame.to_csv(tmp_path / "all.csv", index=False)
    everything = train("linear", data=str(tmp_path / "all.csv"), test_size=0.1, cv=0)
    register()  # pins its own held-out 10%
    training, held = lab_sides()
    held.to_csv(tmp_path / "held.csv", index=False)
    X_seen, _, y_seen, _ = split(frame, Split(0.1, 0, 0))
    seen = len(held.merge(X_seen.assign(Y=y_seen)))  # exam rows the champion trained on
    assert 0 < seen < 133
    done = run_cli("exam", "set", str(tmp_path / "held.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == (
        f"exam: the champion, version 1 (run {everything['run_id']}), trained on {seen} of "
        "these rows: the gate will name it in every verdict")
    training.to_csv(tmp_path / "mine.csv", index=False)
    train("ridge", {"alpha": 0.001}, data=str(tmp_path / "mine.csv"), cv=0)
    result = register()
    assert f"; the champion trained on {seen} of the exam's rows, so its score there " \
           "flatters it" in result["reason"]
    found = gate_of(result["run_id"])
    assert found["champion_shared"] == seen and found["candidate_shared"] == 0


class Permissions:
    """What MLflow's basic auth would answer, for server_auth's exam rule."""

    def __init__(self, admin=False, may_set_alias=False, may_delete_alias=False):
        self.store = self
        self.admin, self.set, self.delete = admin, may_set_alias, may_delete_alias

    def get_user(self, name):
        return type("User", (), {"is_admin": self.admin})()

    def validate_can_set_model_or_prompt_version_alias(self):
        return self.set

    def validate_can_delete_model_or_prompt_version_alias(self):
        return self.delete


@pytest.mark.parametrize("path, body, who, permissions, allowed", [
    ("set-tag", {"key": "trackfit.exam.digest", "value": "0"}, "ana", Permissions(), False),
    ("set-tag", {"key": "trackfit.exam.digest", "value": "0"}, "ana",
     Permissions(may_set_alias=True), True),
    ("set-tag", {"key": "trackfit.exam.by", "value": "bob"}, "ana",
     Permissions(may_set_alias=True), False),  # by names the login that writes it
    ("set-tag", {"key": "trackfit.exam.by", "value": "bob"}, "ana",
     Permissions(admin=True), False),
    ("delete-tag", {"key": "trackfit.exam.source"}, "ana", Permissions(may_set_alias=True),
     False),  # removing the exam takes what removing the alias takes
    ("delete-tag", {"key": "trackfit.exam.source"}, "ana", Permissions(may_delete_alias=True),
     True),
    ("create", {"tags": [{"key": "trackfit.exam.by", "value": "bob"}]}, "ana", Permissions(),
     False),
    ("create", {"tags": [{"key": "trackfit.exam.by", "value": "ana"}]}, "ana", Permissions(),
     True),
])
def test_the_team_server_guards_the_exam_like_the_alias(path, body, who, permissions,
                                                          allowed):
    from flask import Flask, request

    from trackfit.tracking import server_auth

    url = f"/api/2.0/mlflow/registered-models/{path}"
    method = "DELETE" if path == "delete-tag" else "POST"
    with Flask("server").test_request_context(url, method=method,
                                              json={"name": MODEL, **body}):
        written = server_auth.exam_tags(request)
        assert written
        assert server_auth.exam_allowed(request.path, written, who, permissions) is allowed
    with Flask("server").test_request_context(url, method=method, json={
            "name": MODEL, "key": "note", "value": "x", "tags": []}):
        assert server_auth.exam_tags(request) == {}  # other tags: MLflow's own check alone


def test_a_pinned_exam_at_an_unlisted_url_is_not_fetched(store, run_cli):
    """The pinned address is read as a training run's data is: a URL only under a prefix
    listed in TRACKFIT_GATE_SOURCES; unlisted, one line and no request."""
    train("linear", cv=0)
    register()
    mlflow.MlflowClient().set_registered_model_tag(MODEL, "trackfit.exam.source",
                                                   "http://127.0.0.1:9/exam.csv")
    train("tree", cv=0)
    result = run_cli("register", "--metric", "training_r2_score")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line == (f"trackfit: error: the gate will not fetch the exam of {MODEL}, "
                    "http://127.0.0.1:9/exam.csv, unless told: list it in "
                    "TRACKFIT_GATE_SOURCES if you trust that source, or pass it as "
                    "exam=<its address>")
    assert [str(v.version) for v in versions(store)] == ["1"]
