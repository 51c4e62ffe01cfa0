"""The estimator plugin manager.

Discovery order, fixed: drop-in files ``plugins/*.py`` (by file name; the checkout's folder
when trackfit runs from its source, then ``./plugins`` if that is another folder), then the
``trackfit`` entry-point group (by distribution, then entry-point name). The built-in
estimators are an ordinary plugin: trackfit's own entry point ``scikit_learn``.

A plugin that fails to import, implements an unknown hook, raises in its hook or registers
an invalid estimator is reported by name and skipped whole; the others keep working.

``TRACKFIT_DISABLE_PLUGINS=a,b`` skips the named plugins before they are imported;
``TRACKFIT_LOAD_PLUGINS=a,b`` loads only the named ones. A name is a plugin's name or its
distribution's (``trackfit-lightgbm``).
"""

import difflib
import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pluggy

from .. import DataError, EstimatorError, TrackfitError, __version__
from ..tracking import project
from . import hookspecs, space

ENTRY_POINT_GROUP = "trackfit"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
FACTORY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
BUILT_IN = ("scikit_learn", "trackfit.estimators.builtin")
CATEGORY_WAYS = ("onehot", "ordinal", "native")  # how an estimator takes text columns


@dataclass(frozen=True)
class EstimatorSpec:
    """One estimator a plugin registered."""

    name: str
    factory: object
    plugin: str
    defaults: dict = field(default_factory=dict)
    description: str = ""
    flavor: str = "sklearn"
    trusted_types: tuple = ()
    plugin_version: str = ""
    distribution: str = ""
    search_space: dict = field(default_factory=dict)
    validate: object = None  # checks a loaded model before its first predict (trackfit.trust)
    scaling: bool = False  # numbers scaled before it (linear models, SVR, k-NN)
    categories: str = "onehot"  # or "ordinal", "native": text as codes, one column each

    @property
    def qualified_name(self):
        return f"{self.plugin}:{self.name}"

    def load_factory(self):
        """The factory callable; imports its module now if it was given as a string."""
        if callable(self.factory):
            return self.factory
        try:
            return _import_attr(self.factory)
        except (ImportError, AttributeError) as exc:
            raise EstimatorError(
                f"estimator '{self.name}' (plugin '{self.plugin}') cannot be built: "
                f"{self.factory} is not importable ({exc})", fix="install what the plugin needs"
            ) from exc

    def load_validate(self):
        """The validate callable, or None; imports its module now if it was given as a string."""
        if self.validate is None or callable(self.validate):
            return self.validate
        try:
            return _import_attr(self.validate)
        except (ImportError, AttributeError) as exc:
            raise EstimatorError(
                f"estimator '{self.name}' (plugin '{self.plugin}'): its validate "
                f"{self.validate} is not importable ({exc})", fix="install what the plugin needs"
            ) from exc


@dataclass(frozen=True)
class DatasetSpec:
    """One named dataset a plugin registered."""

    name: str
    loader: object
    target: str
    plugin: str
    description: str = ""

    def load(self):
        """The dataset's rows: the loader's DataFrame."""
        import pandas as pd

        loader = self.loader
        try:
            if not callable(loader):
                loader = _import_attr(loader)
            frame = loader()
        except Exception as exc:  # a broken loader is one line about it
            raise DataError(
                f"dataset '{self.name}' (plugin '{self.plugin}') cannot be read: "
                f"{type(exc).__name__}: {exc}", fix="install what the plugin needs") from exc
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"dataset '{self.name}' (plugin '{self.plugin}'): its loader "
                            f"returned a {type(frame).__name__}, not a pandas DataFrame")
        return frame


def _import_attr(text):
    """The object a ``"module:attr"`` string names (``attr`` may be dotted)."""
    module_name, attr = text.split(":")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class PluginInfo:
    """One plugin found, loaded or not."""

    name: str
    source: str
    version: str = ""
    distribution: str = ""
    estimators: list = field(default_factory=list)
    datasets: list = field(default_factory=list)
    error: str = ""


class Catalogue:
    """Every estimator the loaded plugins registered, and every plugin found."""

    def __init__(self, plugins, specs, datasets=()):
        self.plugins = plugins
        self.specs = specs
        self.datasets = list(datasets)

    def dataset(self, name):
        """The dataset registered as ``name``, or None."""
        found = [d for d in self.datasets if d.name == name]
        return found[0] if found else None

    def names(self):
        return sorted({spec.name for spec in self.specs})

    def get(self, name):
        """The spec for ``name`` or ``plugin:name``, or a EstimatorError saying what to pass."""
        if ":" in name:
            found = [spec for spec in self.specs if spec.qualified_name == name]
        else:
            found = [spec for spec in self.specs if spec.name == name]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            claims = ", ".join(f"'{spec.plugin}'{_from(spec)}" for spec in found)
            choices = " or ".join(spec.qualified_name for spec in found)
            raise EstimatorError(
                f"estimator '{name}' is registered by {len(found)} plugins ({claims})",
                fix=f"choose one with estimator={choices}"
            )
        choices = self.names() + [spec.qualified_name for spec in self.specs]
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        failed = [p for p in self.plugins if p.error]
        broken = (
            " Plugins that failed to load: "
            + "; ".join(f"'{p.name}': {p.error}" for p in failed)
            + "."
            if failed
            else ""
        )
        raise EstimatorError(
            f"unknown estimator '{name}'.{hint} "
            f"List them with `python -m trackfit estimators`.{broken}"
        )


def _from(spec):
    return f" from {spec.distribution}" if spec.distribution else ""


def _env_names(variable):
    value = os.environ.get(variable, "")
    return {part.strip() for part in value.split(",") if part.strip()}


def _plugin_files():
    checkout = project.checkout()
    folders = [checkout / "plugins"] if checkout else []
    here = Path.cwd() / "plugins"
    if here.is_dir() and all(here.resolve() != f.resolve() for f in folders):
        folders.append(here)
    files = []
    for folder in folders:
        if folder.is_dir():
            files.extend(sorted(p for p in folder.glob("*.py") if not p.name.startswith("_")))
    return files


def _import_file(path):
    module_name = f"trackfit_plugins.{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _candidates():
    """(name, source, version, distribution, loader) for every plugin, in discovery order."""
    for path in _plugin_files():
        yield path.stem, f"project: {path}", "", "", lambda path=path: _import_file(path)
    entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    if not any(ep.value == BUILT_IN[1] for ep in entry_points):
        # trackfit imported from a checkout it is not installed from: its own entry point
        # is not in any metadata, so the built-ins load from the source, as it would.
        name, module = BUILT_IN
        yield (name, f"package: {project.DISTRIBUTION} {__version__} (source)", __version__,
               project.DISTRIBUTION, lambda: importlib.import_module(module))
    for ep in sorted(entry_points, key=lambda ep: ((ep.dist.name if ep.dist else ""), ep.name)):
        dist = ep.dist.name if ep.dist else ""
        version = ep.dist.version if ep.dist else ""
        yield ep.name, f"package: {dist} {version}".strip(), version, dist, ep.load


def _collect(manager, info, module):
    """Run one plugin's hook; return its specs, or raise with the reason it is skipped."""
    manager.register(module, name=info.name)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError:
        hooks = sorted(n for n, caller in vars(manager.hook).items() if caller.has_spec())
        unknown = sorted(c.name for c in manager.get_hookcallers(module) if not c.has_spec())
        close = difflib.get_close_matches(unknown[0], hooks, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise EstimatorError(f"implements unknown hook {unknown[0]}{hint}") from None
    impls = [
        impl
        for impl in manager.hook.register_estimators.get_hookimpls()
        if impl.plugin_name == info.name
    ]
    dataset_impls = [
        impl
        for impl in manager.hook.register_datasets.get_hookimpls()
        if impl.plugin_name == info.name
    ]
    if not impls and not dataset_impls:
        raise EstimatorError("implements no trackfit hook (expected register_estimators or "
                             "register_datasets)")
    specs = []
    datasets = []

    def register_dataset(name, loader, target, description=""):
        datasets.append(_make_dataset(info, name, loader, target, description, datasets))

    for impl in dataset_impls:
        impl.function(**{arg: register_dataset for arg in impl.argnames})
    if dataset_impls and not datasets:
        raise EstimatorError("registered no dataset")

    def register(
        name, factory, defaults=None, description="", flavor="sklearn", trusted_types=(),
        search_space=None, validate=None, scaling=False, categories="onehot",
    ):
        specs.append(_make_spec(info, name, factory, defaults, description, flavor,
                                trusted_types, search_space, specs, validate, scaling,
                                categories))

    for impl in impls:
        impl.function(**{arg: register for arg in impl.argnames})
    if impls and not specs:
        raise EstimatorError("registered no estimator")
    return specs, datasets


def _check_named(invalid, name, earlier, what, value):
    """A registration's name, unique within its plugin, and its ``what`` (the factory or
    loader): a ``"module:attr"`` string or a callable."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise invalid("name must be lower case letters, digits, '.', '_' or '-'")
    if any(spec.name == name for spec in earlier):
        raise invalid("registered twice by this plugin")
    if isinstance(value, str):
        if not FACTORY_PATTERN.match(value):
            raise invalid(f"{what} {value!r} is not of the form 'module:attr'")
    elif not callable(value):
        raise invalid(f"{what} must be a 'module:attr' string or a callable")


def _make_dataset(info, name, loader, target, description, earlier):
    def invalid(problem):
        return EstimatorError(f"registered an invalid dataset {name!r}: {problem}")

    _check_named(invalid, name, earlier, "loader", loader)
    if not isinstance(target, str) or not target:
        raise invalid("target must name the column to predict")
    if not isinstance(description, str):
        raise invalid("description must be a string")
    return DatasetSpec(name, loader, target, info.name, description)


def _make_spec(info, name, factory, defaults, description, flavor, trusted_types, search_space,
               earlier, validate=None, scaling=False, categories="onehot"):
    def invalid(problem):
        return EstimatorError(f"registered an invalid estimator {name!r}: {problem}")

    _check_named(invalid, name, earlier, "factory", factory)
    defaults = {} if defaults is None else defaults
    if not isinstance(defaults, dict) or not all(isinstance(k, str) for k in defaults):
        raise invalid("defaults must be a dict of hyperparameter names to values")
    if not isinstance(description, str):
        raise invalid("description must be a string")
    if not isinstance(flavor, str) or not flavor.isidentifier():
        raise invalid("flavor must name an MLflow flavor module, such as 'sklearn'")
    if isinstance(trusted_types, str) or not all(isinstance(t, str) for t in trusted_types):
        raise invalid("trusted_types must be a list of type names")
    if isinstance(validate, str):
        if not FACTORY_PATTERN.match(validate):
            raise invalid(f"validate {validate!r} is not of the form 'module:attr'")
    elif validate is not None and not callable(validate):
        raise invalid("validate must be a 'module:attr' string or a callable")
    if not isinstance(scaling, bool):
        raise invalid("scaling must be True or False")
    if categories not in CATEGORY_WAYS:
        raise invalid(f"categories must be one of {', '.join(CATEGORY_WAYS)}")
    try:
        search_space = space.from_plugin({} if search_space is None else search_space)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    return EstimatorSpec(
        name=name,
        factory=factory,
        plugin=info.name,
        defaults=dict(defaults),
        description=description,
        flavor=flavor,
        trusted_types=tuple(trusted_types),
        plugin_version=info.version,
        distribution=info.distribution,
        search_space=search_space,
        validate=validate,
        scaling=scaling,
        categories=categories,
    )


def load_catalogue():
    """Find, load and validate every plugin; report the broken ones instead of raising."""
    disabled = _env_names("TRACKFIT_DISABLE_PLUGINS")
    only = _env_names("TRACKFIT_LOAD_PLUGINS")
    manager = pluggy.PluginManager("trackfit")
    manager.add_hookspecs(hookspecs)
    plugins, specs, datasets = [], [], []
    for name, source, version, distribution, loader in _candidates():
        if {name, distribution} & disabled or (only and not {name, distribution} & only):
            continue
        info = PluginInfo(name=name, source=source, version=version, distribution=distribution)
        plugins.append(info)
        if manager.has_plugin(name):
            first = next(p for p in plugins if p.name == name)
            info.error = (
                f"another plugin named '{name}' ({first.source}) was loaded first; uninstall "
                "one, or skip one with TRACKFIT_DISABLE_PLUGINS=<its distribution>"
            )
            continue
        try:
            module = loader()
            info.version = info.version or str(getattr(module, "__version__", ""))
            found, named = _collect(manager, info, module)
            clash = next((d for d in named for seen in datasets if seen.name == d.name), None)
            if clash:
                first = next(seen for seen in datasets if seen.name == clash.name)
                raise EstimatorError(f"registers dataset '{clash.name}', which plugin "
                                     f"'{first.plugin}' registered first", fix="uninstall one")
        except Exception as exc:  # a broken plugin must not break the others
            if manager.has_plugin(name):
                manager.unregister(name=name)
            info.error = str(exc) if isinstance(exc, TrackfitError) else (
                f"failed to load: {type(exc).__name__}: {exc}"
            )
            continue
        info.estimators = [spec.name for spec in found]
        info.datasets = [d.name for d in named]
        specs.extend(found)
        datasets.extend(named)
    return Catalogue(plugins, specs, datasets)


def requirements(spec):
    """What a model from ``spec`` needs besides trackfit's pins: its package's requirements."""
    if spec.distribution in ("", project.DISTRIBUTION):  # a file, or the built-ins
        return ()
    return tuple(r for r in metadata.requires(spec.distribution) or () if ";" not in r)


_catalogue = None


def catalogue():
    """The process's estimator catalogue, loaded once."""
    global _catalogue
    if _catalogue is None:
        _catalogue = load_catalogue()
    return _catalogue


def reset():
    """Forget the loaded catalogue (tests, or after installing a plugin)."""
    global _catalogue
    _catalogue = None
