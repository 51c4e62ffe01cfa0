"""rerun: train again with a finished training run's recorded params and data, compare metrics."""

import os

from .. import TrackfitError, UsageError
from ..engines.table import ask_from
from ..estimators import hyperparams, plugins
from ..estimators.hyperparams import SEED_PARAM
from ..tracking import provenance, store
from ..tracking import tags as tagnames
from ..tracking.runs import COSTS, FORMER_COSTS, client, recorded_params


def recorded_run(run_id):
    """The finished training run ``run_id``, or a TrackfitError saying what to pass."""
    from mlflow.exceptions import MlflowException

    try:
        run = client().get_run(run_id)
    except MlflowException as exc:
        import mlflow

        if store.classify(exc) not in ("absent", "invalid"):
            raise  # a store that is down or locked says so itself
        raise UsageError(
            f"no run '{run_id}' in the tracking store {mlflow.get_tracking_uri()}",
            fix="check the run id and MLFLOW_TRACKING_URI"
        ) from exc
    step = run.data.tags.get(tagnames.STEP)
    if step != "train":
        raise UsageError(
            f"run {run_id} is a {step or 'non-trackfit'} run", fix="rerun takes the id of a "
            "training run (tag trackfit.step=train)"
        )
    if run.info.status != "FINISHED":
        raise UsageError(f"run {run_id} is {run.info.status}", fix="rerun takes a finished run")
    return run


def code_changes(run):
    """Why the code here may not be the code the run used: a list of reasons, empty if none."""
    tags = run.data.tags
    recorded = tags.get(tagnames.GIT_COMMIT) or tags.get("mlflow.source.git.commit")
    commit, dirty = provenance.code_state()
    reasons = []
    if not recorded:
        reasons.append("the run recorded no git commit, so its code cannot be checked")
    elif tags.get(tagnames.GIT_DIRTY) == "true":
        reasons.append(f"the run used uncommitted changes on top of commit {recorded[:12]}")
    if commit is None:
        reasons.append("the code here is not in a git repository")
    elif recorded and commit != recorded:
        reasons.append(f"the code here is at commit {commit[:12]}, the run used {recorded[:12]}")
    if dirty:
        reasons.append("the code here has uncommitted changes")
    return reasons


def recorded_arguments(run):
    """The train() arguments the run recorded: estimator, params, data, split and folds."""
    logged = recorded_params(run)
    missing = [k for k in ("estimator", "data", "test_size", SEED_PARAM, "cv") if k not in logged]
    if missing:
        raise UsageError(
            f"run {run.info.run_id} did not record {', '.join(missing)}; it cannot be rerun"
        )
    if "***" in logged["data"]:
        raise UsageError(
            f"run {run.info.run_id} read data from {logged['data']}, recorded without its "
            "credentials; it cannot be rerun from what it recorded"
        )
    seed = int(float(logged[SEED_PARAM]))
    spec = plugins.catalogue().get(logged["estimator"])
    default = hyperparams.build(spec, {}, seed).get_params(deep=False)
    changed = {
        name: hyperparams.parse_value(logged[name])
        for name, value in default.items()
        if name != SEED_PARAM and name in logged and logged[name] != str(value)
    }
    ask = ask_from(logged)  # the table as the run read it: the lab's, or the target asked
    return {
        "estimator": logged["estimator"],
        "params": changed,
        "data": logged["data"],
        "target": ask.target, "features": list(ask.features), "ignore": list(ask.ignore),
        "categorical": list(ask.categorical), "missing": ask.missing,
        "test_size": float(logged["test_size"]),
        "random_state": seed,
        "cv": int(float(logged["cv"])),
    }


def compare_metrics(recorded, new):
    """(name, recorded, new, same) for every metric either run has, sorted by name.

    What serving the model costs (its predict time and size) is measured, not
    reproduced: never compared, under its former name neither.
    """
    return [
        (name, recorded.get(name), new.get(name), recorded.get(name) == new.get(name))
        for name in sorted((set(recorded) | set(new)) - set(COSTS) - set(FORMER_COSTS))
    ]


def rerun(run_id, force=False):
    """Rerun training run ``run_id``; raise TrackfitError if any metric differs."""
    import mlflow

    from ..entrypoints.train import train

    run = recorded_run(run_id)
    reasons = code_changes(run)
    if reasons and not force:
        raise UsageError(
            f"will not rerun {run_id}: {'; '.join(reasons)}. Check out the run's commit with "
            "no local changes, or pass --force to rerun on this code anyway"
        )
    for reason in reasons:
        print(f"rerun: warning: {reason} (--force)")
    arguments = recorded_arguments(run)
    if not os.environ.get("MLFLOW_RUN_ID"):
        mlflow.set_experiment(experiment_id=run.info.experiment_id)
    result = train(**arguments)
    new = client().get_run(result["run_id"])
    client().set_tag(result["run_id"], tagnames.RERUN_OF, run_id)
    if reasons:
        client().set_tag(result["run_id"], tagnames.RERUN_FORCED, "true")
    rerun_metrics = result["metrics"]
    if run.data.tags.get(tagnames.REFIT) == "skipped":  # main refit=best's CV scores alone
        print(f"rerun: run {run_id} holds CV scores alone (main refit=best): those compared")
        rerun_metrics = {k: v for k, v in rerun_metrics.items() if k in run.data.metrics}
    rows = compare_metrics(run.data.metrics, rerun_metrics)
    width = max(len(name) for name, *_ in rows)
    print(f"rerun of {run_id} as {result['run_id']}:")
    print(f"  {'metric':<{width}}  {'recorded':<22} {'rerun':<22}")
    for name, before, after, same in rows:
        print(f"  {name:<{width}}  {before!r:<22} {after!r:<22} {'same' if same else 'DIFFERS'}")
    print(f"  ({', '.join(COSTS)}: what serving costs, measured again, not compared)")
    differ = [name for name, *_, same in rows if not same]
    old_digest = run.data.tags.get(tagnames.DATA_DIGEST)
    new_digest = new.data.tags.get(tagnames.DATA_DIGEST)
    if not differ:
        print(f"rerun: all {len(rows)} metrics match run {run_id}")
        return {"run_id": result["run_id"], "differ": []}
    data_note = (
        f"; the data changed since (digest {old_digest} then, {new_digest} now)"
        if old_digest != new_digest else "; the data digest is the same"
    )
    # A rerun that does not reproduce is no candidate: FAILED, compare and register pass it by.
    client().set_terminated(result["run_id"], "FAILED")
    raise TrackfitError(
        f"rerun {result['run_id']} differs from run {run_id} in {len(differ)} of {len(rows)} "
        f"metrics ({', '.join(differ)}){data_note}; the rerun is marked FAILED, so compare "
        "and register leave it out"
    )
