"""Installed plugin packages that clash, break or misbehave: tiny real distributions on sys.path."""

import importlib
import json
import subprocess
import sys
import textwrap

import pytest
from .conftest import PROJECT, env_for, runs

from trackfit import TrackfitError
from trackfit.estimators import plugins
from trackfit.cli import main

HOOK = """
import pluggy

hookimpl = pluggy.HookimplMarker("trackfit")
"""


def registering(*calls):
    """A plugin module's source whose hook makes ``calls`` (source lines) in order."""
    body = "\n".join(f"    {call}" for call in calls)
    return f"{HOOK}\n@hookimpl\ndef register_estimators(register):\n{body}\n"


@pytest.fixture
def site(store, tmp_path, monkeypatch):
    """A folder on sys.path; ``site(dist, module, source)`` installs a tiny distribution there.

    Each distribution is a module plus a dist-info folder whose entry_points.txt names the
    module in group ``trackfit``, which is all pip leaves behind for a one-module package.
    """
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    modules = []

    def install(dist, module, source, entry_name=None, version="1.0"):
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
        info = folder / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[trackfit]\n{entry_name or module} = {module}\n")
        modules.append(module)
        importlib.invalidate_caches()
        plugins.reset()

    install.folder = folder
    yield install
    for module in modules:
        sys.modules.pop(module, None)
    plugins.reset()


def listed_plugins(capsys):
    assert main(["plugins", "--json"]) == 0
    return {p["name"]: p for p in json.loads(capsys.readouterr().out)}


def test_two_packages_claiming_one_name_name_both_and_either_can_be_chosen(site, store, capsys):
    site("trackfit-ridgepack", "ridgepack",
         registering('register("shared", "sklearn.linear_model:Ridge")'))
    site("trackfit-lassopack", "lassopack",
         registering('register("shared", "sklearn.linear_model:Lasso")'))

    assert main(["train", "--estimator", "shared", "--cv", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("trackfit: error: estimator 'shared' is registered by 2 plugins")
    assert "'lassopack' from trackfit-lassopack" in error
    assert "'ridgepack' from trackfit-ridgepack" in error
    assert "estimator=lassopack:shared or ridgepack:shared" in error
    assert [run.info.status for run in runs(store, "train")] == ["FAILED"]

    assert main(["estimators"]) == 0
    listing = capsys.readouterr().out
    assert "lassopack:shared" in listing and "ridgepack:shared" in listing

    for choice in ("ridgepack:shared", "lassopack:shared"):
        assert main(["train", "--estimator", choice, "--cv", "0"]) == 0
    trained = {
        run.data.params["estimator"]: (run.data.tags["estimator_name"],
                                       run.data.tags["trackfit.plugin"],
                                       run.data.tags["trackfit.plugin_distribution"],
                                       run.data.tags["trackfit.plugin_version"])
        for run in runs(store, "train", "FINISHED")
    }
    assert trained == {
        "ridgepack:shared": ("Ridge", "ridgepack", "trackfit-ridgepack", "1.0"),
        "lassopack:shared": ("Lasso", "lassopack", "trackfit-lassopack", "1.0"),
    }


def test_two_packages_with_one_plugin_name_name_the_first_and_can_be_told_apart(
        site, capsys, monkeypatch):
    site("trackfit-one", "twin_one", registering('register("one", "sklearn.linear_model:Ridge")'),
         entry_name="twin")
    site("trackfit-two", "twin_two", registering('register("two", "sklearn.linear_model:Lasso")'),
         entry_name="twin")

    assert main(["plugins", "--json"]) == 0
    first, second = [p for p in json.loads(capsys.readouterr().out) if p["name"] == "twin"]
    assert (first["distribution"], first["estimators"], first["error"]) == (
        "trackfit-one", ["one"], "")
    assert second["distribution"] == "trackfit-two"
    assert second["error"].startswith(
        "another plugin named 'twin' (package: trackfit-one 1.0) was loaded first")

    monkeypatch.setenv("TRACKFIT_DISABLE_PLUGINS", "trackfit-one")
    plugins.reset()
    assert plugins.catalogue().get("twin:two").distribution == "trackfit-two"
    assert "one" not in plugins.catalogue().names()


def test_package_whose_import_fails_is_reported_and_the_others_work(site, store, capsys):
    site("trackfit-needy", "needypack",
         "import trackfit_no_such_library\n" + registering('register("needy", "x:y")'))

    listed = listed_plugins(capsys)
    assert listed["needypack"]["distribution"] == "trackfit-needy"
    assert listed["needypack"]["error"] == (
        "failed to load: ModuleNotFoundError: No module named 'trackfit_no_such_library'")
    assert listed["needypack"]["estimators"] == []
    assert listed["scikit_learn"]["error"] == ""

    assert main(["plugins"]) == 0
    assert "error: failed to load: ModuleNotFoundError" in capsys.readouterr().out

    assert main(["train", "--estimator", "needy", "--cv", "0"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("trackfit: error: unknown estimator 'needy'.")
    assert ("Plugins that failed to load: 'needypack': failed to load: ModuleNotFoundError: "
            "No module named 'trackfit_no_such_library'.") in error

    assert main(["train", "--estimator", "linear", "--cv", "0"]) == 0
    statuses = {run.data.params.get("estimator", run.data.tags["mlflow.runName"]): run.info.status
                for run in runs(store, "train")}
    assert statuses == {"needy": "FAILED", "linear": "FINISHED"}


def test_hook_raising_halfway_registers_nothing(site, capsys):
    site("trackfit-halfway", "halfway", registering(
        'register("halfway-first", "sklearn.linear_model:Ridge")',
        'raise RuntimeError("lost the second model")',
        'register("halfway-second", "sklearn.linear_model:Lasso")',
    ))

    listed = listed_plugins(capsys)
    assert listed["halfway"]["error"] == "failed to load: RuntimeError: lost the second model"
    assert listed["halfway"]["estimators"] == []

    assert main(["estimators"]) == 0
    out, err = capsys.readouterr()
    assert "halfway-first" not in out and "linear" in out
    assert "trackfit: plugin 'halfway' skipped: failed to load: RuntimeError" in err
    assert not [name for name in plugins.catalogue().names() if name.startswith("halfway")]
    with pytest.raises(TrackfitError, match="unknown estimator 'halfway-first'"):
        plugins.catalogue().get("halfway-first")


def test_misspelled_hooks_are_reported(site, tmp_path, capsys):
    folder = tmp_path / "plugins"  # the working directory's plugins/, for drop-in files
    folder.mkdir()
    (folder / "typo.py").write_text(
        HOOK + "\n@hookimpl\ndef register_estimator(register):\n    register('t', 'x:y')\n")
    site("trackfit-unmarked", "unmarked",
         "def registerestimators(register):\n    register('u', 'x:y')\n")
    site("trackfit-badarg", "badarg",
         HOOK + "\n@hookimpl\ndef register_estimators(reg):\n    reg('b', 'x:y')\n")

    listed = listed_plugins(capsys)
    assert listed["typo"]["source"] == f"project: {folder / 'typo.py'}"
    assert listed["typo"]["error"] == (
        "implements unknown hook register_estimator (did you mean register_estimators?)")
    assert listed["unmarked"]["error"] == (
        "implements no trackfit hook (expected register_estimators or register_datasets)")
    assert "badarg" in listed and "'reg'" in listed["badarg"]["error"]
    assert listed["scikit_learn"]["error"] == ""


@pytest.mark.slow  # a new interpreter: what listing imports, from a clean sys.modules
def test_listing_estimators_does_not_import_a_plugins_library(site, store):
    site("trackfit-heavy", "heavypack",
         registering('register("heavy", "trackfit_heavy_lib:Regressor")'))
    (site.folder / "trackfit_heavy_lib.py").write_text(
        "from sklearn.linear_model import Ridge as Regressor\n")
    script = textwrap.dedent("""
        import sys
        from trackfit.cli import main
        main(["estimators"])
        print("imported after listing:", "trackfit_heavy_lib" in sys.modules)
        from trackfit.estimators.plugins import catalogue
        catalogue().get("heavy").load_factory()
        print("imported after use:", "trackfit_heavy_lib" in sys.modules)
    """)
    env = env_for(store)
    env["PYTHONPATH"] = f"{site.folder}:{PROJECT}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.split()[:2] == ["heavy", "heavypack"] for line in lines)
    assert "imported after listing: False" in lines
    assert "imported after use: True" in lines


def test_plugins_can_be_disabled_before_import_or_loaded_alone(site, capsys, monkeypatch):
    site("trackfit-ridgepack", "ridgepack",
         registering('register("shared", "sklearn.linear_model:Ridge")'))

    # the others: the built-ins, the checkout's example and whatever else is installed
    others = set(listed_plugins(capsys)) - {"ridgepack"}
    assert {"quantile", "scikit_learn"} <= others
    sys.modules.pop("ridgepack", None)
    for disabled in ("ridgepack", "trackfit-ridgepack"):
        monkeypatch.setenv("TRACKFIT_DISABLE_PLUGINS", f"nothing-else, {disabled}")
        plugins.reset()
        assert set(listed_plugins(capsys)) == others
        assert "ridgepack" not in sys.modules
    monkeypatch.delenv("TRACKFIT_DISABLE_PLUGINS")

    monkeypatch.setenv("TRACKFIT_LOAD_PLUGINS", "ridgepack")
    plugins.reset()
    assert set(listed_plugins(capsys)) == {"ridgepack"}
    assert plugins.catalogue().names() == ["shared"]
    with pytest.raises(TrackfitError, match="unknown estimator 'linear'"):
        plugins.catalogue().get("linear")
