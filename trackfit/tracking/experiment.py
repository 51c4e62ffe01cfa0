"""Which experiment trackfit's runs go in: the one the user named, else the lab's.

The user names one the MLflow way: ``--experiment-name`` (of ``mlflow run`` or of trackfit),
MLFLOW_EXPERIMENT_NAME or MLFLOW_EXPERIMENT_ID. With none of them, trackfit's runs go in
``experiment-diabetes``, the experiment ``make ui`` opens.

``mlflow run`` makes its run before the entry point's command starts, in the experiment
MLflow's fluent API would choose: the environment's, else the first default-experiment
provider (entry-point group ``mlflow.default_experiment_provider``) that is in context,
else ``Default`` (id 0). MLproject cannot name an experiment, so trackfit registers
:class:`LabExperiment`, in context only in a trackfit project's own folder: there,
``mlflow run .`` makes its run in ``experiment-diabetes``. Anywhere else (``mlflow run
<git-url>``, or an ``mlflow`` without trackfit installed, as with ``--env-manager conda``)
the run already sits in ``Default``; a run cannot move between experiments, so the step
works there, and its last line names the experiment and how to choose another
(:func:`chosen_by_mlflow`, :func:`note`).

This module is imported when MLflow starts (through that entry point): it imports nothing
heavy until asked for an experiment.
"""

import os
import re
from pathlib import Path

EXPERIMENT = "experiment-diabetes"
DEFAULT_ID = "0"  # MLflow's Default experiment
PROJECT_NAME = re.compile(r"^name:\s*['\"]?trackfit['\"]?\s*$", re.M)


def in_project(folder="."):
    """Whether ``folder`` is a trackfit project: its MLproject is named trackfit."""
    try:
        return bool(PROJECT_NAME.search((Path(folder) / "MLproject").read_text()))
    except (OSError, UnicodeDecodeError):
        return False


def named():
    """Whether the environment names an experiment (MLFLOW_EXPERIMENT_NAME or _ID)."""
    return bool(os.environ.get("MLFLOW_EXPERIMENT_NAME") or os.environ.get("MLFLOW_EXPERIMENT_ID"))


def ensure(name=EXPERIMENT):
    """The id of experiment ``name``, created if missing (another process may create it too)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


class LabExperiment:
    """MLflow's default experiment in a trackfit project's folder: ``experiment-diabetes``.

    A ``mlflow.default_experiment_provider``: MLflow asks it only when no experiment is set
    (``--experiment-name``, MLFLOW_EXPERIMENT_NAME/_ID and ``mlflow.set_experiment`` win).
    """

    def in_context(self):
        return in_project()

    def get_experiment_id(self):
        return ensure(EXPERIMENT)


def for_table(name):
    """The experiment a table's runs go in by default: ``experiment-<name>``, so tables never
    mix; the lab's stays ``experiment-diabetes``."""
    return f"experiment-{name}"


def elsewhere(step, run_id, table):
    """The last line of a step under ``mlflow run`` whose run sits in another table's
    experiment (MLflow chose it before trackfit started), or "" when it is the table's own."""
    from .runs import client

    found = client().get_experiment(client().get_run(run_id).info.experiment_id).name
    wanted = for_table(table)
    if found == wanted or os.environ.get("MLFLOW_EXPERIMENT_NAME") or table == "diabetes":
        return ""
    return (f"{step}: runs in experiment '{found}' (mlflow run chose it); pass "
            f"--experiment-name {wanted} to keep the {table} table's runs apart")


def chosen_by_mlflow(run_id):
    """Whether ``mlflow run`` put its run ``run_id`` in ``Default`` for want of a name.

    ``mlflow run`` gives its run's experiment as MLFLOW_EXPERIMENT_ID whether or not the user
    named one; so ``Default`` counts as chosen only through MLFLOW_EXPERIMENT_NAME.
    """
    from .runs import client

    if os.environ.get("MLFLOW_EXPERIMENT_NAME"):
        return False
    return client().get_run(run_id).info.experiment_id == DEFAULT_ID


def note(step):
    """The last line of a step whose run ``mlflow run`` put in ``Default`` (on stderr)."""
    return (f"{step}: runs in experiment 'Default' (mlflow run chose it; pass "
            f"--experiment-name NAME to choose another, e.g. --experiment-name {EXPERIMENT})")
