"""A register run: the best training run by a held-out metric -> a model version, alias
``champion``; and the registry names other tools rely on."""

import contextlib
import os

from .. import GateRefused, StoreError, TrackfitError, UsageError, processes
from . import exam as exams
from . import experiment, gate, store, tags
from .runs import (DEFAULT_METRIC, check_ranking, client, log, logged_model_uri, same_table,
                   step_run, training_runs)

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


def _champion(model_name, alias):
    """The version that holds ``alias``, or None when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if store.classify(exc) in ABSENT:
            return None
        raise


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


def _point_alias(model_name, alias, version):
    """Point ``alias`` at ``version``, also when another register points it at once.

    MLflow's SQL store sets an alias by reading the row and inserting it when absent: two
    registers at once can both insert, and one gets the duplicate-key error; tried again,
    the row is there and is updated (store.retry).
    """
    store.retry(client().set_registered_model_alias, model_name, alias, version)


def _experiment_of(run_id):
    """(experiment id, run) of ``run_id``; (None, None) when the run is gone."""
    from mlflow.exceptions import MlflowException

    try:
        found = client().get_run(run_id)
    except MlflowException as exc:
        if store.classify(exc) != "absent":
            raise
        return None, None
    return found.info.experiment_id, found


def _experiment_name(experiment_id):
    from mlflow.exceptions import MlflowException

    try:
        return client().get_experiment(experiment_id).name
    except MlflowException:
        return f"id {experiment_id}"


# Judgements one register makes when the alias keeps moving under it (other registers, or a
# person, moving it while the gate scores): then it stops, moving nothing.
ROUNDS = 3


def _same(now, then):
    """Whether the alias still holds the version it held when the gate judged."""
    return (now is None) == (then is None) and (now is None or now.version == then.version)


@contextlib.contextmanager
def _alias_lock():
    """Registers of this machine on one SQLite store take turns at the alias (the lock file
    store.prepare uses); a server's registry has no lock, and the re-read stands alone."""
    path = store.sqlite_path(store.tracking_uri())
    if not path:
        yield
        return
    with store.file_lock(os.path.abspath(path) + ".lock"):
        yield


def pin_exam(model_name, exam, expected):
    """``trackfit exam set``: pin ``exam`` to ``model_name`` if the pinned one is still
    ``expected``, under the registers' lock; (the exam pinned now, whether this pinned it)."""
    return exams.pin(model_name, exam, _alias_lock, expected=expected, replacing=True)


def champion_reads(model_name, alias=ALIAS):
    """(input columns, target, champion version) of the champion, or None without one."""
    champion = _champion(model_name, alias)
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
    where, _ = _experiment_of(champion.run_id)
    if where == here:
        return champion, None
    elsewhere = _experiment_name(where) if where is not None else "a deleted run"
    return (champion if here == experiment.DEFAULT_ID else None), elsewhere


def _version_of(model_name, best, metric, value):
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
    first = _first_version(model_name, best.run_id, version)
    return first, first is version


def _withdraw(model_name, version):
    """Delete ``version``, made by this register, unless an alias points at it now."""
    if version is not None and not client().get_model_version(
            model_name, version.version).aliases:
        client().delete_model_version(model_name, version.version)


def _promote(model_name, alias, champion, best, metric, value, pinned=None):
    """Compare-and-set: the version of ``best`` and ``alias`` on it, when the alias still
    holds ``champion`` (what the gate judged against). Returns (moved, version, created,
    now): moved with the alias's version now (None when no version holds it), and the
    version this register made before it saw the move, if any."""
    import mlflow

    with processes.deferred(), _alias_lock():  # a version, its alias and tags, or none
        _same_exam(model_name, pinned)
        now = _champion(model_name, alias)
        if not _same(now, champion):
            return True, None, False, now
        version, created = _version_of(model_name, best, metric, value)
        now = _champion(model_name, alias)  # again, just before moving it
        _same_exam(model_name, pinned)
        if not _same(now, champion):
            return True, version, created, now
        if champion is None or champion.version != version.version:
            _point_alias(model_name, alias, version.version)
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


def register(metric=DEFAULT_METRIC, model_name=MODEL_NAME, alias=ALIAS, threshold=None,
             min_improvement=0.0, min_relative_improvement=0.0, strict=False, nested=False,
             loaded=None, exam=""):
    """One register run; returns the version that holds the alias and whether it is new.

    It ranks the training runs of its own run's experiment. The best by ``metric`` is the
    challenger; the promotion gate (gate.py) scores it and the champion on the model's
    pinned exam and checks MLflow's thresholds: ``threshold`` the floor,
    ``min_improvement`` (absolute) and ``min_relative_improvement`` over the champion; with
    neither, it must be better. A refused challenger gets no version and the alias stays;
    ``strict`` makes the refusal an error (exit 1 for CI). A run that already has a version
    gets the alias moved to that version, never a second version. A champion from another
    experiment is never ranked against this one's runs (other data, other splits): the gate
    treats the challenger as a first champion, and the printed line says where the alias was.
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
    from ..engines.source import redact

    limits = gate.Thresholds(threshold, min_improvement, min_relative_improvement).check()
    check_names(model_name, alias)
    check_ranking(metric)
    with step_run("register", nested=nested, run_name="register") as run:
        log(params={"metric": metric, "model_name": model_name, "alias": alias,
                    **limits.params(), "strict": strict, "exam": redact(exam)})
        if loaded is None:
            best = training_runs(metric, max_results=1).iloc[0]
        else:  # main: the best run of the table it read, whatever else the experiment holds
            best = same_table(training_runs(metric), loaded[2].schema)[0].iloc[0]
        gate.check_metric(metric)
        result = {"run_id": run.info.run_id, "created": False, "accepted": True,
                  "verdict": "kept", "experiment": _experiment_name(run.info.experiment_id),
                  "moved_from": None}
        return _gated(result, run.info.experiment_id, best, metric, model_name, alias,
                      limits, strict, loaded, exam)


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
            pinned, won = exams.pin(model_name, mine, _alias_lock)
            if won:
                print(f"register: pinned exam {pinned.named()} to {model_name} (by "
                      f"{pinned.by} at {pinned.at})")
        if not mine.same_rows(pinned):
            raise exams.refused_pin(model_name, pinned, mine)
        return pinned, rows
    if pinned is None:
        mine, rows = exams.from_split(split, columns, target)
        pinned, won = exams.pin(model_name, mine, _alias_lock)
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
    return exams.shared(rows, found.X_train, found.y_train, pinned.target), ""


def _gated(result, here, best, metric, model_name, alias, limits, strict, loaded, given=""):
    """The gate's rounds: judge ``best`` against the champion on the exam, then move the
    alias by compare-and-set, judging again when it moved meanwhile."""
    value = float(best[f"metrics.{metric}"])
    champion, made, moves = _champion(model_name, alias), None, []
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
                count = exams.shared(rows, found.X_train, found.y_train, pinned.target)
                if count:
                    verdict = gate.leak(metric, limits, pinned, count,
                                        exams.leaked(count, pinned, best.run_id))
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
                _withdraw(model_name, made)
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
            _withdraw(model_name, made)
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
