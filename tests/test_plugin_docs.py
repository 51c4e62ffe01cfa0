"""docs/plugins.md keeps step with the code: the hook, register(...) and the tutorial's files."""

import inspect
import re
import sys
import tomllib

import pluggy
from .conftest import PROJECT, runs

from trackfit.estimators import hookspecs, plugins
from trackfit.entrypoints.train import train

DOC = PROJECT / "docs" / "plugins.md"

CAPTURE = """
import pluggy

hookimpl = pluggy.HookimplMarker("trackfit")
CALLBACKS = []


@hookimpl
def register_estimators(register):
    CALLBACKS.append(register)
    register("captured", "sklearn.dummy:DummyRegressor")
"""


def doc():
    return DOC.read_text()


def tutorial_file(name):
    """The fenced block that follows the line naming ``name`` in the tutorial."""
    match = re.search(rf"`{re.escape(name)}`:\n\n *```\w+\n(.*?)\n *```", doc(), re.S)
    assert match, f"docs/plugins.md has no block for {name}"
    return "\n".join(line[3:] for line in match.group(1).splitlines()) + "\n"


def the_register_callback(tmp_path):
    """The real ``register`` a plugin's hook receives, caught by a drop-in plugin."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "capture.py").write_text(CAPTURE)
    plugins.reset()
    assert "captured" in plugins.catalogue().names()
    (callback,) = sys.modules["trackfit_plugins.capture"].CALLBACKS
    return callback


def test_every_hook_is_documented_with_its_signature():
    marker = pluggy.HookspecMarker("trackfit").project_name + "_spec"
    specs = {name: fn for name, fn in vars(hookspecs).items() if hasattr(fn, marker)}
    manager = pluggy.PluginManager("trackfit")
    manager.add_hookspecs(hookspecs)
    assert set(specs) == {name for name, hook in vars(manager.hook).items() if hook.has_spec()}
    for name, fn in specs.items():
        assert f"def {name}{inspect.signature(fn)}:" in doc()


def test_register_is_documented_as_plugins_call_it(store, tmp_path):
    signature = inspect.signature(the_register_callback(tmp_path))
    documented = f"register{signature}".replace("'", '"')
    assert documented in doc()
    assert documented in " ".join(hookspecs.register_estimators.__doc__.split())
    rows = re.findall(r"^\| `(\w+)` \|", doc(), re.M)
    assert rows == list(signature.parameters)


def test_the_control_variables_are_documented():
    for variable in ("TRACKFIT_DISABLE_PLUGINS", "TRACKFIT_LOAD_PLUGINS"):
        assert f"`{variable}=a,b`" in doc() and variable in plugins.__doc__


def test_the_tutorial_plugin_works_as_written(store, tmp_path):
    project = tomllib.loads(tutorial_file("trackfit-huber/pyproject.toml"))["project"]
    assert project["name"] == "trackfit-huber"
    assert project["entry-points"] == {"trackfit": {"huber": "trackfit_huber"}}
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "trackfit_huber.py").write_text(
        tutorial_file("trackfit-huber/trackfit_huber.py"))
    plugins.reset()

    result = train("huber", params={"epsilon": 1.5}, cv=0)
    (run,) = runs(store, "train", "FINISHED")
    assert run.info.run_id == result["run_id"]
    assert (run.data.params["epsilon"], run.data.params["max_iter"]) == ("1.5", "1000")
    assert (run.data.tags["estimator_name"], run.data.tags["trackfit.plugin"]) == (
        "HuberRegressor", "trackfit_huber")
