"""conda.yaml is the one source of pins: pyproject.toml, the installed metadata and logged
models follow it."""

import tomllib

import yaml

from trackfit.tracking import project

from .conftest import PROJECT, conda_pins


def test_every_conda_pin_is_exact():
    for pin in conda_pins():
        name, sep, version = pin.partition("==")
        assert sep and name and version and not set(version) & set("<>=*, "), pin


def test_pyproject_dependencies_equal_conda_pins():
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    assert sorted(pyproject["dependencies"]) == sorted(conda_pins())


def test_the_installed_metadata_carries_the_same_pins():
    assert sorted(project.pins()) == sorted(conda_pins())


def test_other_pin_lists_agree_with_conda_on_shared_packages():
    pins = dict(pin.split("==") for pin in conda_pins())
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    for extra in pyproject.get("optional-dependencies", {}).values():
        for pin in extra:
            name, _, version = pin.partition("==")
            assert version, f"{pin} is not an exact pin"
            if name in pins:
                assert pins[name] == version, pin


def test_the_makefiles_installer_is_the_test_extras():
    """make installs every venv with uv: the same uv the test extra pins."""
    import re

    (pin,) = re.findall(r"(?m)^UV_PIN := (\S+)$", (PROJECT / "Makefile").read_text())
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    assert pin in pyproject["optional-dependencies"]["test"]


def test_logged_models_require_what_loading_them_needs_at_the_conda_pins(store):
    from mlflow.pyfunc import get_model_dependencies

    from trackfit.entrypoints.train import train

    result = train("linear", cv=0)
    path = get_model_dependencies(result["model_uri"])
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    needed = ["mlflow", "scikit-learn", "numpy", "scipy", "pandas", "skops"]
    assert lines == [pin for pin in conda_pins() if pin.split("==")[0] in needed]
    assert [line.split("==")[0] for line in lines] == needed  # no matplotlib, pluggy, pyarrow
