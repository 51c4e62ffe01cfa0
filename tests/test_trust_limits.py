"""Models that would exhaust or crash the process loading them: refused in one line.

A zip bomb (a genuine skops file whose schema names one deflated member hundreds of times)
is refused from its zip directory and schema before skops reads a member. A model that
crashes, hangs or balloons only when it predicts (a drop-in plugin's class, so no check of
trackfit's can see it) kills the probe's child process, never the step: each is logged to
the test store as the champion and refused by predict, register and serve with one line.
"""

import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile

import mlflow
import numpy as np
import pytest
from mlflow.models import infer_signature

from trackfit import trust
from trackfit.entrypoints.train import train

from .conftest import env_for, free_port, versions
from .test_trust import champion, crafted, fitted
from .test_trust_loading import assert_refused, lab

MEMBER = 10 * 2**20  # one member of zeros, 10 MB unpacked, 10 KB deflated
TIMES = 400  # named this many times: 4 GB read by skops


def bomb(path, member=MEMBER, times=TIMES, shared=False):
    """Rewrite the skops file at ``path``: its coef_ becomes a list naming one deflated
    member of ``member`` bytes of zeros ``times`` times, each under an id of its own (one
    id for all, ``shared``: skops then reads it once)."""
    with zipfile.ZipFile(path) as source:
        schema = json.loads(source.read("schema.json"))
        kept = {info.filename: source.read(info) for info in source.infolist()
                if info.filename != "schema.json"}
    zeros = io.BytesIO()
    np.save(zeros, np.zeros(member // 8))
    reference = dict(schema["content"]["content"]["coef_"], file="zeros.npy")
    schema["content"]["content"]["coef_"] = {
        "__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
        "content": [dict(reference, __id__=1 if shared else n + 1) for n in range(times)],
        "__id__": times + 1}
    with zipfile.ZipFile(path, "w") as target:
        for name, data in kept.items():
            target.writestr(name, data)
        target.writestr("zeros.npy", zeros.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
        target.writestr("schema.json", json.dumps(schema))


def log_bomb(name):
    return crafted(lambda folder: bomb(folder / "model.skops"))(name)


PLAN = {"flavor": "sklearn", "format": "skops", "file": "model.skops", "trusted_types": []}


def test_a_zip_bomb_is_refused_before_skops_reads_a_member(tmp_path):
    path = tmp_path / "model.skops"
    mlflow.sklearn.save_model(fitted(), tmp_path / "model", pip_requirements=[])
    (tmp_path / "model" / "model.skops").rename(path)
    bomb(path)
    data = path.read_bytes()
    assert len(data) < 200_000
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(trust.Refused) as refused:
            trust.load_bytes(data, PLAN)
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(refused.value).startswith(
        "its model file would unpack to 3.9 GB when loaded, past the cap of 256.0 MB for a "
        "file of ")
    assert seconds < 5
    assert peak < 20 * 2**20  # nothing like a member, let alone 400 of them


def test_the_cap_counts_a_member_named_under_one_id_once(tmp_path):
    """skops reads an object of one ``__id__`` once (a genuine k-NN names its training rows
    twice): the cap counts what it reads."""
    path = tmp_path / "model" / "model.skops"
    mlflow.sklearn.save_model(fitted(), tmp_path / "model", pip_requirements=[])
    bomb(path, shared=True)
    read = trust.unpacked(str(path), path.stat().st_size)
    assert MEMBER < read < MEMBER + 10_000


@pytest.mark.parametrize("command", ["predict", "register", "serve"])
def test_a_zip_bomb_champion_is_refused_in_one_line(store, tmp_path, capsys, command):
    train("linear", cv=0)  # a genuine challenger: register's gate loads the champion too
    champion(log_bomb)
    args = {"predict": ["predict", "--output", str(tmp_path / "p.csv")], "register": ["register"],
            "serve": ["serve", "--port", str(free_port())]}[command]
    started = time.monotonic()
    assert_refused(capsys, *args, phrases=["its model file would unpack to 3.9 GB when loaded, "
                                           "past the cap of 256.0 MB"])
    assert time.monotonic() - started < 30
    assert not (tmp_path / "p.csv").exists()
    assert len(versions(store)) == 1  # the bomb's own version: register made none


@pytest.mark.slow  # the command in a process of its own, to measure its memory
def test_predict_refuses_a_zip_bomb_in_a_process_of_little_memory(store, tmp_path):
    champion(log_bomb)
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "trackfit", "predict"], cwd=tmp_path,
                               env=env_for(store), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    errors = process.stderr.read().strip().splitlines()
    assert process.returncode == 3  # a refused model
    assert len(errors) == 1 and "would unpack to 3.9 GB" in errors[0], errors
    assert time.monotonic() - started < 30
    assert usage.ru_maxrss * 1024 < 1.5 * 2**30  # ru_maxrss is in KB


# A drop-in plugin whose model crashes, hangs or balloons when it predicts: its class is
# the plugin's own and its validate passes, so nothing before predict can tell.
PLUGIN = '''
import ctypes
import os
import signal

import numpy as np
import pluggy
from sklearn.base import BaseEstimator, RegressorMixin

hookimpl = pluggy.HookimplMarker("trackfit")


class Harmful(RegressorMixin, BaseEstimator):
    def __init__(self, how="nothing"):
        self.how = how

    def fit(self, X, y):
        self.mean_ = float(np.mean(y))
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        if self.how == "abort":
            os.abort()
        if self.how == "segfault":
            ctypes.string_at(0)
        if self.how == "memory":
            np.ones(2**29)  # 4 GB
        while self.how == "hang":
            pass
        return np.full(len(X), self.mean_)


def passes(model):
    pass


@hookimpl
def register_estimators(register):
    register("harmful", "trackfit_plugins.harmful:Harmful", validate=passes,
             trusted_types=["trackfit_plugins.harmful.Harmful"])
'''


@pytest.fixture
def harmful(store, tmp_path):
    """The plugin in ./plugins; ``harmful(how)`` logs its model and makes it the champion."""
    from trackfit.estimators import plugins

    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "harmful.py").write_text(PLUGIN)
    plugins.reset()
    kind = plugins.catalogue().get("harmful").load_factory()

    def make(how):
        X, y = lab()

        def log(name):
            with trust.own_model():
                return mlflow.sklearn.log_model(
                    kind(how=how).fit(X, y), name=name, serialization_format="skops",
                    skops_trusted_types=["trackfit_plugins.harmful.Harmful"],
                    signature=infer_signature(X, y), pip_requirements=[])
        return champion(log)
    return make


@pytest.mark.parametrize("how, phrase", [
    ("abort", "probing it crashed the process (signal 6, SIGABRT)"),
    ("segfault", "probing it crashed the process (signal 11, SIGSEGV)"),
    ("memory", "probing it ran out of memory"),
    ("hang", "probing it took longer than 3 s"),
])
def test_a_model_that_crashes_when_it_predicts_is_refused_by_predict(harmful, tmp_path, capsys,
                                                                     monkeypatch, how, phrase):
    monkeypatch.setattr(trust.probing, "PROBE_SECONDS", 3)
    harmful(how)
    output = tmp_path / "p.csv"
    started = time.monotonic()
    assert_refused(capsys, "predict", "--output", str(output), phrases=[phrase])
    assert time.monotonic() - started < 30
    assert not output.exists()


@pytest.mark.parametrize("command", ["register", "serve"])
def test_a_model_that_crashes_when_it_predicts_is_refused_by_register_and_serve(
        harmful, store, capsys, command):
    harmful("segfault")
    train("linear", cv=0)
    args = ["serve", "--port", str(free_port())] if command == "serve" else [command]
    assert_refused(capsys, *args, phrases=["probing it crashed the process (signal 11"])
    assert len(versions(store)) == 1  # the crafted champion's: register made none


def test_the_probe_passes_a_model_of_the_same_plugin_that_predicts(harmful, run_cli, tmp_path):
    harmful("nothing")
    done = run_cli("predict", "--output", str(tmp_path / "p.csv"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "p.csv").exists()


# A running server keeps the model it checked when a crafted one becomes the champion:
# tests/test_serve.py, with the one `trackfit serve` of its checks.
