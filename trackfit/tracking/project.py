"""Where trackfit runs from, and its pins.

trackfit runs either from a source checkout (``mlflow run .``, an editable install) or from an
installed wheel. conda.yaml is the one source of pins; pyproject.toml follows it, so an
installed trackfit reads the same pins from its distribution's metadata.
"""

import re
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .. import TrackfitError, UsageError

DISTRIBUTION = "trackfit"
# What loading and serving a logged model needs; the CLI's other dependencies stay out.
MODEL_NEEDS = ("mlflow", "scikit-learn", "numpy", "scipy", "pandas", "skops")


def checkout():
    """The source checkout this trackfit was imported from, or None when it is installed."""
    folder = Path(__file__).resolve().parents[2]
    return folder if (folder / "MLproject").is_file() else None


def _name(requirement):
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def _conda_pins(path):
    import yaml

    env = yaml.safe_load(path.read_text())
    for dependency in env.get("dependencies", []):
        if isinstance(dependency, dict) and "pip" in dependency:
            return tuple(dependency["pip"])
    raise TrackfitError(f"{path} has no pip section with pins")


@lru_cache(maxsize=None)
def pins():
    """Every pin of trackfit: the installed distribution's, else conda.yaml of the checkout."""
    try:
        requires = metadata.requires(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # imported from a checkout that is not installed
        requires = None
    if requires:
        return tuple(r for r in requires if ";" not in r)
    folder = checkout()
    if folder is None or not (folder / "conda.yaml").is_file():
        raise UsageError(
            "trackfit is neither installed nor run from its checkout, so it has no pins",
            fix="pip install trackfit, or run from the project folder"
        )
    return _conda_pins(folder / "conda.yaml")


def model_requirements():
    """The pins a logged model needs to load and serve, in conda.yaml's order."""
    return tuple(pin for pin in pins() if _name(pin) in MODEL_NEEDS)
