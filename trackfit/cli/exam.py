"""``trackfit exam show|set``: the exam pinned to a registered model, the rows the gate
scores every challenger and the champion on (trackfit.promotion.exam)."""

from .. import StoreError, UsageError
from ..promotion import exam as exams
from ..promotion import policy
from ..tracking import registry

ACTIONS = ("show", "set")


def exam(action, data="", model_name=registry.MODEL_NAME):
    """Show the exam pinned to ``model_name``, or set it to every row of ``data``."""
    if action not in ACTIONS:
        raise UsageError(f"exam: unknown action '{action}'", fix="use show, or set <data>")
    registry.check_names(model_name, registry.ALIAS)
    if action == "show":
        return show(model_name)
    if not data.strip():
        raise UsageError("exam set needs the data to pin, e.g. trackfit exam set "
                         "exam.parquet --model_name model-diabetes")
    return change(model_name, data)


def show(model_name):
    pinned = exams.read(model_name)
    if pinned is None:
        print(f"exam: none pinned to {model_name}; the next register pins the held-out rows "
              "of its challenger, or set one: trackfit exam set <data>")
        return None
    print(exams.describe(pinned))
    return pinned


def change(model_name, data):
    """Pin every row of ``data`` by compare-and-set against the exam read first; prints
    the change, who made it and when."""
    from ..engines.source import FEATURES, TARGET

    before = exams.read(model_name)
    reads = policy.champion_reads(model_name)
    columns, target = (reads[0], reads[1]) if reads else (FEATURES, TARGET)
    mine, rows = exams.from_data(data, columns, target)
    if mine.same_rows(before):
        print(f"exam: {model_name} has this exam already: {before.named()} (pinned by "
              f"{before.by} at {before.at})")
        return before
    now, won = policy.pin_exam(model_name, mine, before)
    if not won:
        shown = "none" if now is None else f"{now.named()} (by {now.by} at {now.at})"
        raise StoreError(f"the exam of {model_name} changed while this read yours, to "
                         f"{shown}", fix="nothing was changed: look (trackfit exam show) and "
                         "run exam set again")
    print(f"exam: {model_name}: {before.named() if before else 'none'} -> {now.named()}, "
          f"by {now.by} at {now.at}")
    if reads and reads[3] is not None:
        _, _, champion, found = reads
        count = exams.shared(now, rows, found)
        if count:
            print(f"exam: the champion, version {champion.version} (run {champion.run_id}), "
                  f"trained on {count} of these rows: the gate will name it in every verdict")
    return now
