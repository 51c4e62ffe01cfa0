"""conda.yaml is the one source of pins: pyproject.toml and logged models follow it."""

import tomllib

import yaml

from trackfit import tracking
from trackfit.plugins import PROJECT_DIR


def conda_pins():
    env = yaml.safe_load((PROJECT_DIR / "conda.yaml").read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return pip


def test_every_conda_pin_is_exact():
    for pin in conda_pins():
        name, sep, version = pin.partition("==")
        assert sep and name and version and not set(version) & set("<>=*, "), pin


def test_pyproject_dependencies_equal_conda_pins():
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    assert sorted(project["dependencies"]) == sorted(conda_pins())


def test_other_pin_lists_agree_with_conda_on_shared_packages():
    pins = dict(pin.split("==") for pin in conda_pins())
    project = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]
    for extra in project.get("optional-dependencies", {}).values():
        for pin in extra:
            name, _, version = pin.partition("==")
            assert version, f"{pin} is not an exact pin"
            if name in pins:
                assert pins[name] == version, pin


def test_logged_models_require_exactly_the_conda_pins(store):
    from mlflow.pyfunc import get_model_dependencies

    from trackfit.entrypoints.train import train

    result = train("linear", cv=0)
    path = get_model_dependencies(result["model_uri"])
    with open(path) as f:
        lines = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert lines == list(tracking.pinned_requirements()) == conda_pins()
