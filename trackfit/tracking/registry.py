"""A register run: the best training run by a held-out metric -> a model version, alias
``champion``; and the registry names other tools rely on."""

from . import tags
from .runs import DEFAULT_METRIC, client, higher_is_better, log, step_run, training_runs

MODEL_NAME = "model-diabetes"
ALIAS = "champion"


def model_uri(model_name=MODEL_NAME, alias=ALIAS):
    """The URI of the version that holds ``alias``: models:/model-diabetes@champion."""
    return f"models:/{model_name}@{alias}"


DEFAULT_MODEL = model_uri()


def _better(value, than, metric):
    return value > than if higher_is_better(metric) else value < than


def _champion(model_name, alias):
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def _first_version(model_name, run_id, mine):
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


def _experiment_of(run_id):
    """(experiment id, run) of ``run_id``; (None, None) when the run is gone."""
    from mlflow.exceptions import MlflowException

    try:
        found = client().get_run(run_id)
    except MlflowException:
        return None, None
    return found.info.experiment_id, found


def _experiment_name(experiment_id):
    from mlflow.exceptions import MlflowException

    try:
        return client().get_experiment(experiment_id).name
    except MlflowException:
        return f"id {experiment_id}"


def register(metric=DEFAULT_METRIC, model_name=MODEL_NAME, alias=ALIAS, nested=False):
    """One register run; returns the version that holds the alias and whether it is new.

    It ranks the training runs of its own run's experiment. Nothing better than the current
    champion of that experiment: no new version. A run that already has a version gets the
    alias moved to that version, never a second version. A champion from another experiment
    is never ranked against this one's runs (other data, other splits): the alias moves to
    this experiment's best, and the printed line says where it was.
    """
    import mlflow

    with step_run("register", nested=nested, run_name="register") as run:
        log(params={"metric": metric, "model_name": model_name, "alias": alias})
        here = run.info.experiment_id
        best = training_runs(metric, max_results=1).iloc[0]
        value = float(best[f"metrics.{metric}"])
        existing = {
            v.run_id: v for v in client().search_model_versions(f"name='{model_name}'")
        }
        champion = _champion(model_name, alias)
        elsewhere = None  # the champion's experiment, when it is not this one
        if champion is not None:
            where, held_run = _experiment_of(champion.run_id)
            if where != here:
                elsewhere = _experiment_name(where) if where is not None else "a deleted run"
        version, created = existing.get(best.run_id), False
        if version is None and champion is not None and elsewhere is None:
            held = held_run.data.metrics.get(metric)
            if held is not None and not _better(value, held, metric):
                version, value = champion, held
        if version is None:
            version = mlflow.register_model(
                best.get(f"tags.{tags.MODEL_URI}") or f"runs:/{best.run_id}/model",
                model_name,
                tags={"run_id": best.run_id, "metric": metric, "value": repr(value),
                      "estimator": str(best.get("params.estimator"))},
            )
            first = _first_version(model_name, best.run_id, version)
            version, created = first, first is version
        moved = champion is None or champion.version != version.version
        if moved:
            client().set_registered_model_alias(model_name, alias, version.version)
        mlflow.set_tags({tags.MODEL_NAME: model_name,
                         tags.MODEL_VERSION: version.version,
                         tags.REGISTERED_RUN_ID: version.run_id})
        what = "registered new version" if created else "kept version"
        name = _experiment_name(here)
        line = (f"register: {what} {version.version} of {model_name} (run {version.run_id}, "
                f"{metric} {value:.4f}, best of experiment '{name}'), alias {alias} -> "
                f"{version.version}")
        if moved and elsewhere is not None:
            line += (f"; moved from version {champion.version}, a run of experiment "
                     f"'{elsewhere}' (register under another model_name to keep both)")
        print(line)
        return {"run_id": run.info.run_id, "version": int(version.version), "created": created,
                "model_run_id": version.run_id, "value": value, "experiment": name,
                "moved_from": (int(champion.version) if moved and elsewhere is not None else None)}
