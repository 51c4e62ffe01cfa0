"""The registry's primitives: the names other tools rely on, a model's URI, the version
that holds an alias, one version per run, the alias moved under a lock."""

import contextlib
import os

from .. import UsageError
from . import store
from .runs import client, logged_model_uri

MODEL_NAME = "model-diabetes"
ALIAS = "champion"


def for_table(name):
    """The registered model a table's runs go to by default: ``model-<name>``, so tables
    never mix; the lab's stays ``model-diabetes``."""
    return f"model-{name}"


def model_uri(model_name=MODEL_NAME, alias=ALIAS):
    """The URI of the version that holds ``alias``: models:/model-diabetes@champion."""
    return f"models:/{model_name}@{alias}"


DEFAULT_MODEL = model_uri()


# What a models:/ URI cannot carry in a name: '@' starts the alias (models:/<name>@<alias>),
# '/' the version, '?' a query, ':' MLflow refuses in a name; URL parsing drops tabs and
# line breaks.
NOT_IN_URIS = "@/:?"


def check_names(model_name, alias):
    """A name the registry would refuse only once a version exists (an alias MLflow reserves
    or cannot store, a name MLflow refuses), one its search filters would misread (a quote),
    or one its models:/ URI would misread, refused before any run."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import (_validate_model_alias_name,
                                         _validate_model_alias_name_reserved,
                                         _validate_model_name)

    if not model_name.strip():
        raise UsageError("model_name is empty", fix="pass a name for the registered model, e.g. "
                         "model_name=model-diabetes")
    if any(quote in model_name for quote in "'\""):
        raise UsageError(f"model_name {model_name!r} holds a quote, which the registry's "
                         "search filters cannot match", fix="pass a name without quotes, e.g. "
                         "model_name=model-diabetes")
    breaking = next((c for c in model_name if c in NOT_IN_URIS or not c.isprintable()), None)
    if breaking is not None:
        raise UsageError(
            f"model_name {model_name!r} holds {breaking!r}, which a models:/<name>@<alias> URI "
            "cannot carry ('@' starts the alias, '/' the version)", fix="pass a name without "
            "@ / : ? or control characters, e.g. model_name=model-diabetes")
    try:  # MLflow's own rules for a name ('.' and '..' read as paths)
        _validate_model_name(model_name)
    except MlflowException as exc:
        raise UsageError(f"model_name {model_name!r} cannot be registered: "
                         f"{exc.message.rstrip('.')}", fix="pass a name like "
                         "model_name=model-diabetes") from None
    try:  # MLflow's own rules for an alias
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
    except MlflowException as exc:
        raise UsageError(f"alias '{alias}' cannot be set: {exc.message.rstrip('.')}",
                         fix="pass letters, digits, _ and -, e.g. alias=champion") from None


# What the registry answers for a model or alias that is not there (store.classify; MLflow's
# SQL store says INVALID_PARAMETER_VALUE for an alias no version holds). Any other error, a
# locked store or a server that is down, is raised: it must not read as "no champion",
# which the gate lets any challenger past.
ABSENT = ("absent", "invalid")


def champion_of(model_name, alias):
    """The version that holds ``alias``, or None when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if store.classify(exc) in ABSENT:
            return None
        raise


def first_version(model_name, run_id, mine):
    """The oldest version of ``run_id``; a later one that is ``mine`` is deleted.

    Two registers at once can each see no version for the run and each make one. The
    registry has no lock or conditional create, so each process re-checks after creating:
    the lowest version number wins, every process agrees on it, and a process that made a
    later duplicate deletes it before any alias points at it.
    """
    found = client().search_model_versions(f"name='{model_name}' and run_id='{run_id}'")
    first = min(found, key=lambda v: int(v.version), default=mine)
    if int(first.version) < int(mine.version):
        client().delete_model_version(model_name, mine.version)
        return first
    return mine


def point_alias(model_name, alias, version):
    """Point ``alias`` at ``version``, also when another register points it at once.

    MLflow's SQL store sets an alias by reading the row and inserting it when absent: two
    registers at once can both insert, and one gets the duplicate-key error; tried again,
    the row is there and is updated (store.retry).
    """
    store.retry(client().set_registered_model_alias, model_name, alias, version)


def experiment_of(run_id):
    """(experiment id, run) of ``run_id``; (None, None) when the run is gone."""
    from mlflow.exceptions import MlflowException

    try:
        found = client().get_run(run_id)
    except MlflowException as exc:
        if store.classify(exc) != "absent":
            raise
        return None, None
    return found.info.experiment_id, found


def experiment_name(experiment_id):
    from mlflow.exceptions import MlflowException

    try:
        return client().get_experiment(experiment_id).name
    except MlflowException:
        return f"id {experiment_id}"


def same(now, then):
    """Whether the alias still holds the version it held when the gate judged."""
    return (now is None) == (then is None) and (now is None or now.version == then.version)


@contextlib.contextmanager
def alias_lock():
    """Registers of this machine on one SQLite store take turns at the alias (the lock file
    store.prepare uses); a server's registry has no lock, and the re-read stands alone."""
    path = store.sqlite_path(store.tracking_uri())
    if not path:
        yield
        return
    with store.file_lock(os.path.abspath(path) + ".lock"):
        yield


def version_of(model_name, best, metric, value):
    """(the version of run ``best``, whether this register made it): a run that already has
    a version is never registered twice."""
    import mlflow

    found = client().search_model_versions(f"name='{model_name}' and run_id='{best.run_id}'")
    if found:
        return min(found, key=lambda v: int(v.version)), False
    # Two registers making the model's first version at once: one gets the store's
    # duplicate-key error, and tried again finds the model there.
    version = store.retry(
        mlflow.register_model, logged_model_uri(best), model_name,
        tags={"run_id": best.run_id, "metric": metric, "value": repr(value),
              "estimator": str(best.get("params.estimator"))},
    )
    first = first_version(model_name, best.run_id, version)
    return first, first is version


def withdraw(model_name, version):
    """Delete ``version``, made by this register, unless an alias points at it now."""
    if version is not None and not client().get_model_version(
            model_name, version.version).aliases:
        client().delete_model_version(model_name, version.version)
