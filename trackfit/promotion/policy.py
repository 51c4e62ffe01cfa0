"""The promotion policy: the best training run by a held-out metric becomes a model
version and takes the alias ``champion`` only when the gate (gate.py) passes it on the
model's pinned exam (exam.py); the alias moves by compare-and-set."""

import contextlib

from .. import GateRefused, StoreError, TrackfitError, UsageError, processes
from ..tracking import experiment, registry, tags
from ..tracking.runs import client, logged_model_uri, same_table, training_runs
from . import exam as exams
from . import gate


# Judgements one register makes when the alias keeps moving under it (other registers, or a
# person, moving it while the gate scores): then it stops, moving nothing.
ROUNDS = 3


def pin_exam(model_name, exam, expected):
    """``trackfit exam set``: pin ``exam`` to ``model_name`` if the pinned one is still
    ``expected``, under the registers' lock; (the exam pinned now, whether this pinned it)."""
    return exams.pin(model_name, exam, registry.alias_lock, expected=expected, replacing=True)


def champion_reads(model_name, alias=registry.ALIAS):
    """(input columns, target, champion version) of the champion, or None without one."""
    champion = registry.champion_of(model_name, alias)
    if champion is None:
        return None
    run = client().get_run(champion.run_id)
    try:
        found = gate.rebuilt(run)
    except TrackfitError:  # its data is gone: its model's signature still says
        found = None
    columns, target = _model_reads(found, run)
    return columns, target, champion, found


def _rival(champion, here):
    """(what the challenger must beat, the champion's experiment when it is not ``here``):
    the champion of this experiment, or any champion when this experiment is Default."""
    if champion is None:
        return None, None
    where, _ = registry.experiment_of(champion.run_id)
    if where == here:
        return champion, None
    elsewhere = registry.experiment_name(where) if where is not None else "a deleted run"
    return (champion if here == experiment.DEFAULT_ID else None), elsewhere


def _promote(model_name, alias, champion, best, metric, value, pinned=None):
    """Compare-and-set: the version of ``best`` and ``alias`` on it, when the alias still
    holds ``champion`` (what the gate judged against). Returns (moved, version, created,
    now): moved with the alias's version now (None when no version holds it), and the
    version this register made before it saw the move, if any."""
    import mlflow

    with processes.deferred(), registry.alias_lock():  # a version, its alias, its tags or none
        _same_exam(model_name, pinned)
        now = registry.champion_of(model_name, alias)
        if not registry.same(now, champion):
            return True, None, False, now
        version, created = registry.version_of(model_name, best, metric, value)
        now = registry.champion_of(model_name, alias)  # again, just before moving it
        _same_exam(model_name, pinned)
        if not registry.same(now, champion):
            return True, version, created, now
        if champion is None or champion.version != version.version:
            registry.point_alias(model_name, alias, version.version)
        mlflow.set_tags({tags.MODEL_NAME: model_name, tags.MODEL_VERSION: version.version,
                         tags.REGISTERED_RUN_ID: version.run_id})
    return False, version, created, None


def _same_exam(model_name, pinned):
    """Stop, moving nothing, when the exam was changed while the gate judged on ``pinned``."""
    if pinned is None:
        return
    now = exams.read(model_name)
    if not pinned.same_rows(now):
        shown = "removed" if now is None else (
            f"changed to {now.named()} by {now.by or 'unknown'} at {now.at or 'unknown'}")
        raise StoreError(
            f"the exam of {model_name} was {shown} while this register judged on "
            f"{pinned.named()}: nothing was moved", fix="run register again")


def _kept(result, model_name, alias, rival, best, metric, value):
    import mlflow

    mlflow.set_tags({tags.MODEL_NAME: model_name, tags.MODEL_VERSION: rival.version,
                     tags.REGISTERED_RUN_ID: rival.run_id, tags.VERDICT: "kept",
                     tags.CANDIDATE_RUN_ID: best.run_id})
    print(f"register: kept version {rival.version} of {model_name} (run {rival.run_id}, "
          f"{metric} {value:.4f}): the best run of experiment '{result['experiment']}' is the "
          f"champion already, alias {alias} -> {rival.version}")
    return {**result, "version": int(rival.version), "model_run_id": rival.run_id,
            "value": value}


def _refused(result, alias, champion, best, verdict, reason, strict):
    stays = (f"alias {alias} stays on version {champion.version}"
             if champion is not None else f"no version holds alias {alias}")
    refused = GateRefused(f"refused run {best.run_id} ({best.get('params.estimator')}): "
                          f"{reason}; {stays}")  # what stays is no fix: all of it the problem
    if strict:
        raise refused
    print(f"register: {refused}")
    return {**result, "accepted": False, "verdict": "refused",
            "version": None if champion is None else int(champion.version),
            "model_run_id": None if champion is None else champion.run_id,
            "value": verdict.value, "reason": reason}


def promote(run, metric, model_name, alias, limits, strict=False, loaded=None, exam=""):
    """The register step's work in its open ``run``: returns the version that holds the
    alias, whether it is new, and the gate's verdict.

    It ranks the training runs of the run's experiment. The best by ``metric`` is the
    challenger; the promotion gate (gate.py) scores it and the champion on the model's
    pinned exam and checks MLflow's thresholds (``limits``: gate.Thresholds): the floor,
    the absolute and the relative improvement over the champion; with neither, it must be
    better. A refused challenger gets no version and the alias stays; ``strict`` makes the
    refusal an error (exit 1 for CI). A run that already has a version gets the alias moved
    to that version, never a second version. A champion from another experiment is never
    ranked against this one's runs (other data, other splits): the gate treats the
    challenger as a first champion, and the printed line says where the alias was.
    Except in ``Default``, where ``mlflow run`` puts the lab's runs when no experiment is
    named (a git URL, an ``mlflow`` without trackfit): there the champion is weighed by the
    gate wherever it came from, so a run from ``Default`` never takes the alias unweighed.
    The alias moves by compare-and-set: when another register (or a person) moved it while
    the gate judged, the gate judges again against the new champion, up to ROUNDS times.
    ``loaded``: the (frame, dataset, table) already read, for the gate's rows (``main``).

    The gate scores both models on the exam pinned to ``model_name`` (exam.py) only. With
    none pinned, this register pins ``exam`` (data, as ``data=`` takes it), or without one
    the challenger's held-out rows (for the lab: the 30% held out at random_state 0). A
    given ``exam`` must be the pinned one; ``trackfit exam set`` changes it.
    """
    if loaded is None:
        best = training_runs(metric, max_results=1).iloc[0]
    else:  # main: the best run of the table it read, whatever else the experiment holds
        best = same_table(training_runs(metric), loaded[2].schema)[0].iloc[0]
    gate.check_metric(metric)
    if best.get(f"tags.{tags.REFIT}") == "skipped":
        raise UsageError(
            f"the best run by {metric}, {best['run_id']} ({best['params.estimator']}), holds "
            "CV scores alone: main's refit=best fitted no model in it",
            fix="rank by a held-out metric, e.g. metric=test_r2_score")
    here = run.info.experiment_id
    result = {"run_id": run.info.run_id, "created": False, "accepted": True,
              "verdict": "kept", "experiment": registry.experiment_name(here),
              "moved_from": None}
    return _gated(result, here, best, metric, model_name, alias, limits, strict, loaded, exam)


def _model_reads(found, run):
    """(input columns, target) of a training run's model: the columns its split trained on
    (``found``: gate.Rebuilt; its signature's inputs by construction) and its ``target``
    param (the lab's Y when it has none)."""
    from ..engines.source import FEATURES, TARGET

    columns = list(FEATURES if found is None else found.X_train.columns)
    params = run.data.params  # under `mlflow run`, target is what -P gave: "" for the lab
    return columns, params.get("table.target") or params.get("target") or TARGET


def _settled(model_name, given, split, columns, target, frames, run_id):
    """(the exam to judge on, its Rows): the pinned one read again; with none pinned,
    ``given`` or the challenger's held-out rows (``split``), pinned by compare-and-set."""
    pinned = exams.read(model_name)
    if given:
        mine, rows = exams.from_data(given, columns, target, frames)
        if pinned is None:
            pinned, won = exams.pin(model_name, mine, registry.alias_lock)
            if won:
                print(f"register: pinned exam {pinned.named()} to {model_name} (by "
                      f"{pinned.by} at {pinned.at})")
        if not mine.same_rows(pinned):
            raise exams.refused_pin(model_name, pinned, mine)
        return pinned, rows
    if pinned is None:
        mine, rows = exams.from_split(split, columns, target)
        pinned, won = exams.pin(model_name, mine, registry.alias_lock)
        if won:
            print(f"register: pinned exam {pinned.named()} to {model_name}, the held-out "
                  f"rows of the first challenger (by {pinned.by} at {pinned.at}); "
                  "trackfit exam set changes it")
            return pinned, rows
        if mine.same_rows(pinned):
            return pinned, rows
        print(f"register: another register pinned exam {pinned.named()} to {model_name} "
              f"meanwhile (by {pinned.by} at {pinned.at}); judging on it")
    exams.fits(pinned, columns, target, run_id, model_name)
    return pinned, exams.rows_of(pinned, "", frames, model_name)


def _examined(model_name, given, best, loaded):
    """(the exam, its Rows, the challenger's split rebuilt): the exam settled and checked
    against the challenger's model and training rows."""
    run = client().get_run(best.run_id)
    found = gate.rebuilt(run, loaded)
    columns, target = _model_reads(found, run)
    frames = {found.data: (found.frame, found.table)}
    pinned, rows = _settled(model_name, given, found, columns, target, frames, best.run_id)
    exams.fits(pinned, columns, target, best.run_id, model_name)
    return pinned, rows, found


def _champion_shared(rival, rows, pinned, loaded):
    """(exam rows the champion ``rival`` trained on, or None; why not checked).
    ``loaded``: a (frame, with its .digest, table) already read, reused when it is the
    champion's data (the challenger's, most often)."""
    from mlflow.exceptions import MlflowException

    from .. import first_line

    if rival is None:
        return None, ""
    try:
        found = gate.rebuilt(client().get_run(rival.run_id), loaded)
    except (TrackfitError, MlflowException) as exc:
        return None, first_line(exc)
    return exams.shared(pinned, rows, found), ""


def _gated(result, here, best, metric, model_name, alias, limits, strict, loaded, given=""):
    """The gate's rounds: judge ``best`` against the champion on the exam, then move the
    alias by compare-and-set, judging again when it moved meanwhile."""
    value = float(best[f"metrics.{metric}"])
    champion, made, moves = registry.champion_of(model_name, alias), None, []
    pinned = rows = None
    try:
        for _ in range(ROUNDS):
            rival, elsewhere = _rival(champion, here)
            if rival is not None and rival.run_id == best.run_id:
                if given:  # the exam asked for is pinned (or refused) all the same
                    _examined(model_name, given, best, loaded)
                return _kept(result, model_name, alias, rival, best, metric, value)
            if pinned is None:
                pinned, rows, found = _examined(model_name, given, best, loaded)
                count = exams.shared(pinned, rows, found)
                if count:
                    verdict = gate.leak(metric, limits, pinned, count,
                                        exams.leaked(count, pinned, found, best.run_id))
                    reason = gate.log(verdict, limits, best.run_id,
                                      None if rival is None else rival.version)
                    return _refused(result, alias, champion, best, verdict, reason, strict)
            shared, unchecked = _champion_shared(rival, rows, pinned,
                                                 (found.frame, found, found.table))
            verdict = gate.judge(
                metric, limits, logged_model_uri(best),
                None if rival is None else f"models:/{model_name}/{rival.version}",
                pinned, rows, shared, unchecked)
            reason = gate.log(verdict, limits, best.run_id,
                              None if rival is None else rival.version)
            if not verdict.accepted:
                registry.withdraw(model_name, made)
                return _refused(result, alias, champion, best, verdict, reason, strict)
            moved, version, created, now = _promote(model_name, alias, champion, best,
                                                    metric, value, pinned)
            made = version if created else made
            if not moved:
                return _accepted(result, model_name, alias, champion, elsewhere, version,
                                 made is not None and made.version == version.version,
                                 metric, value, reason, moves)
            moves.append("none" if now is None else str(now.version))
            champion = now
        raise StoreError(
            f"alias {alias} of {model_name} moved {ROUNDS} times while this register judged "
            f"(to version {', then '.join(moves)}): other registers are promoting at the same "
            "time", fix="nothing was moved, run register again once they are done")
    except BaseException:
        with contextlib.suppress(Exception):  # the error that stopped it is what to say
            registry.withdraw(model_name, made)
        raise


def _accepted(result, model_name, alias, champion, elsewhere, version, created, metric,
              value, reason, moves):
    what = "registered new version" if created else "kept version"
    moved = champion is None or champion.version != version.version
    moved_from = int(champion.version) if moved and elsewhere is not None else None
    line = (f"register: {what} {version.version} of {model_name} (run {version.run_id}, "
            f"{metric} {value:.4f}, best of experiment '{result['experiment']}'; gate: "
            f"{reason}), alias {alias} -> {version.version}")
    if moves:
        line += (f"; judged again after alias {alias} moved to version "
                 f"{', then '.join(moves)} meanwhile")
    if moved_from is not None:
        line += (f"; moved from version {champion.version}, a run of experiment "
                 f"'{elsewhere}' (register under another model_name to keep both)")
    print(line)
    return {**result, "version": int(version.version), "created": created,
            "model_run_id": version.run_id, "value": value, "verdict": "accepted",
            "reason": reason, "moved_from": moved_from}
