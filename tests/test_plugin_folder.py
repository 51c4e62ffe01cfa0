"""Plugins dropped into plugins/: broken ones reported by name, the others keep working."""

import json
import subprocess
import sys
import textwrap

import pytest

from trackfit import TrackfitError
from trackfit.estimators import plugins
from trackfit.entrypoints.train import train

from .conftest import env_for

HEADER = "import pluggy\nhookimpl = pluggy.HookimplMarker('trackfit')\n"


def drop(folder, name, body):
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(HEADER + textwrap.dedent(body))


@pytest.fixture
def project_plugins(store, tmp_path):
    """A ./plugins folder in the working directory, next to the built-ins."""
    folder = tmp_path / "plugins"
    drop(folder, "broken", "import not_a_module_anywhere\n")
    drop(folder, "invalid", """
        @hookimpl
        def register_estimators(register):
            register("Bad Name!", "sklearn.linear_model:Ridge")
    """)
    for twin in ("twin_a", "twin_b"):
        drop(folder, twin, f"""
            @hookimpl
            def register_estimators(register):
                register("twin", "sklearn.linear_model:Ridge", description="{twin}")
        """)
    drop(folder, "huber", """
        @hookimpl
        def register_estimators(register):
            register("huber", "sklearn.linear_model:HuberRegressor", defaults={"max_iter": 1000})
    """)
    plugins.reset()
    return folder


def test_broken_plugins_are_reported_by_name_and_skipped(project_plugins):
    found = plugins.catalogue()
    errors = {p.name: p.error for p in found.plugins if p.error}
    assert "No module named 'not_a_module_anywhere'" in errors["broken"]
    assert "invalid estimator 'Bad Name!'" in errors["invalid"]
    assert {"linear", "tree", "huber", "twin"} <= set(found.names())


def test_two_plugins_claiming_one_name_is_an_error_naming_both(project_plugins):
    found = plugins.catalogue()
    with pytest.raises(TrackfitError, match="'twin_a'.*'twin_b'.*twin_a:twin or twin_b:twin"):
        found.get("twin")
    assert found.get("twin_b:twin").description == "twin_b"


def test_a_dropped_in_plugin_trains_and_the_rest_keep_working(project_plugins):
    huber = train("huber", cv=0)
    assert huber["metrics"]["test_r2_score"] > 0.3
    chosen = train("twin_a:twin", cv=0)
    assert chosen["estimator"] == "twin_a:twin"
    assert train("tree", cv=0)["metrics"]["training_r2_score"] == pytest.approx(0.7321, abs=5e-5)


def test_listing_reports_skipped_plugins_on_stderr(run_cli, project_plugins, tmp_path):
    result = run_cli("estimators", cwd=tmp_path)
    assert result.returncode == 0
    assert "twin_a:twin" in result.stdout and "huber" in result.stdout
    assert "plugin 'broken' skipped" in result.stderr
    assert "plugin 'invalid' skipped" in result.stderr
    listed = json.loads(run_cli("plugins", "--json", cwd=tmp_path).stdout)
    by_name = {p["name"]: p for p in listed}
    assert by_name["huber"]["estimators"] == ["huber"] and by_name["broken"]["error"]


def test_unknown_estimator_error_mentions_failed_plugins(project_plugins):
    with pytest.raises(TrackfitError, match="'broken': failed to load"):
        plugins.catalogue().get("nope")


def test_disable_and_only_variables(project_plugins, monkeypatch):
    monkeypatch.setenv("TRACKFIT_DISABLE_PLUGINS", "broken,invalid,twin_b")
    plugins.reset()
    found = plugins.catalogue()
    assert not [p for p in found.plugins if p.error]
    assert found.get("twin").plugin == "twin_a"
    monkeypatch.delenv("TRACKFIT_DISABLE_PLUGINS")
    monkeypatch.setenv("TRACKFIT_LOAD_PLUGINS", "huber")
    plugins.reset()
    assert plugins.catalogue().names() == ["huber"]


@pytest.mark.slow  # a new interpreter: what listing imports, from a clean sys.modules
def test_listing_estimators_imports_neither_sklearn_nor_mlflow(tmp_path):
    code = ("import sys\n"
            "from trackfit.cli import main\n"
            "main(['estimators'])\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'mlflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=env_for("unused"), timeout=120)
    assert "tree" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr
