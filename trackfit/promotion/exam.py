"""The team's exam: the rows every register scores the challenger and the champion on.

An exam is pinned to a registered model as its tags ``trackfit.exam.*``: where its rows come
from (credentials removed), which rows of that source (all, or the held-out side of a split),
their digest, the target, the row count, the model input columns, who pinned it and when.
The gate reads the rows again for every register and uses them only if they still hash to
the pinned digest. A candidate whose training rows share any row with the exam (row hashes
over the input columns and the target, so copies count) is refused. An exam pinned from a
challenger's held-out rows also pins the digest of the whole table they were held out of
(``table``): a candidate that trained on that very table is counted by position in it, so the
table's own duplicate rows, which any split puts on both sides, are not taken for a leak.
"""

import os
from dataclasses import dataclass, replace

from .. import DataError, UsageError
from ..tracking import store
from ..tracking.runs import client

PREFIX = "trackfit.exam."
FIELDS = ("source", "split", "digest", "target", "rows", "columns", "by", "at", "table")
# What the registry answers for a model that is not there.
ABSENT = ("absent",)  # store.classify: no such registered model


@dataclass(frozen=True)
class Exam:
    """A pinned exam. ``split`` is "" for every row of ``source``, else
    ``held-out test_size=0.3 random_state=0``: the rows that split holds out."""

    source: str
    split: str
    digest: str
    target: str
    rows: int
    columns: tuple
    by: str = ""
    at: str = ""
    table: str = ""  # the digest of the table a held-out exam was cut from ("": unknown)

    def tags(self):
        values = {**self.__dict__, "columns": ",".join(self.columns)}
        return {PREFIX + name: str(values[name]) for name in FIELDS}

    @classmethod
    def from_tags(cls, found):
        """The Exam the tags ``found`` pin, or None when they pin none."""
        if PREFIX + "digest" not in found:
            return None
        get = {name: found.get(PREFIX + name, "") for name in FIELDS}
        try:
            rows = int(get["rows"])
        except ValueError:
            rows = -1
        columns = tuple(c for c in get["columns"].split(",") if c)
        return cls(get["source"], get["split"], get["digest"], get["target"], rows, columns,
                   get["by"], get["at"], get["table"])

    def where(self):
        """Its rows in words: ``diabetes, held-out 30% at random_state 0``."""
        if not self.split:
            return self.source
        test_size, random_state = _split_of(self.split)
        return f"{self.source}, held-out {test_size:.0%} at random_state {random_state}"

    def named(self):
        """One phrase naming it: where, rows, target, digest."""
        return (f"{self.where()} ({self.rows} rows, target {self.target}, digest "
                f"{self.digest})")

    def params(self):
        """What the register run records of it."""
        return {"exam_source": self.source, "exam_split": self.split,
                "exam_digest": self.digest, "exam_rows": self.rows,
                "exam_target": self.target}

    def same_rows(self, other):
        return other is not None and (self.source, self.split, self.digest, self.target) == (
            other.source, other.split, other.digest, other.target)


@dataclass(frozen=True)
class Rows:
    """The exam's rows: X (the input columns), y, and one hash per row."""

    X: object
    y: object
    hashes: object


def _split_of(text):
    """(test_size, random_state) of a split text ``held-out test_size=0.3 random_state=0``."""
    try:
        found = dict(part.split("=", 1) for part in text.split()[1:])
        return float(found["test_size"]), int(found["random_state"])
    except (ValueError, KeyError):
        raise DataError(f"the exam's split {text!r} is not one trackfit wrote", fix="pin the exam "
                        "again (trackfit exam set <data>)") from None


def split_text(test_size, random_state):
    return f"held-out test_size={test_size:g} random_state={int(random_state)}"


def hashes(X, y, target):
    """One 64-bit hash per row over the input columns and the target (pandas'
    ``hash_pandas_object``, the index left out): equal rows hash equal."""
    import numpy as np
    import pandas as pd

    frame = X.assign(**{target: np.asarray(y, dtype=float)})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def digest(row_hashes, columns, target):
    """The exam's digest: SHA-256 over the column names, the target and every row's hash,
    in order (32 hex digits)."""
    import hashlib

    made = hashlib.sha256()
    made.update("\0".join([*columns, "|", target]).encode())
    made.update(row_hashes.tobytes())
    return made.hexdigest()[:32]


def by_position(exam, found):
    """Whether training run split ``found`` split the very table ``exam`` was held out of."""
    return bool(exam.split and exam.table and exam.table == found.digest)


def shared(exam, exam_rows, found):
    """How many of ``exam``'s rows (``exam_rows``) the training run split ``found``
    (gate.Rebuilt) trained on: by position when it split the table the exam was held out of,
    else by row hash."""
    import numpy as np

    from ..fitting.split import Split, positions

    if by_position(exam, found):
        rows = len(found.frame)
        held = positions(rows, Split(*_split_of(exam.split)))[1]
        trained = positions(rows, Split(found.test_size, found.random_state))[0]
        return int(np.isin(held, trained).sum())
    X = found.X_train[list(exam_rows.X.columns)]
    return int(np.isin(exam_rows.hashes, hashes(X, found.y_train, exam.target)).sum())


def who():
    """Who pins: the tracking server's login when there is one, else this machine's user."""
    import getpass

    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "").strip()
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def now():
    import datetime

    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(model_name):
    """The exam pinned to registered model ``model_name``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        model = client().get_registered_model(model_name)
    except MlflowException as exc:
        if store.classify(exc) in ABSENT:
            return None
        raise
    return Exam.from_tags(model.tags or {})


def _made(X, y, source, split, target, table=""):
    row_hashes = hashes(X, y, target)
    columns = tuple(X.columns)
    exam = Exam(source, split, digest(row_hashes, columns, target), target, len(y), columns,
                table=table)
    return exam, Rows(X, y, row_hashes)


def from_split(found, columns, target):
    """(Exam, Rows) of the held-out side of training run split ``found`` (gate.Rebuilt)."""
    return _made(found.X_test[list(columns)], found.y_test, found.data,
                 split_text(found.test_size, found.random_state), target, found.digest)


def _frame(src, frames):
    """(the validated frame, its Table) of Source ``src``: one of ``frames`` ({safe source:
    (frame, table)}, already read for this register) when it is that source, else read now."""
    from ..engines import choose

    if src.safe in frames:  # the digest check that follows holds for these rows too
        return frames[src.safe]
    try:
        frame, _, table = choose("").load(src)
    except DataError as exc:
        found = exc.problem
        raise DataError(f"the gate cannot read the exam: {found}", fix="fix it, or pin another "
                        "exam (trackfit exam set <data>)") from None
    return frame, table


def _parsed(text, target):
    """The Source of exam data ``text`` whose rows predict ``target``: the lab's table for
    Y, else the table of that target."""
    from ..engines.source import TARGET, parse
    from ..engines.source import Ask

    return parse(text, None if target == TARGET else Ask(target))


def _rows_of(found, src, split, columns, target):
    from ..fitting.split import Split, split as split_rows

    frame, table = found
    wanted = list(columns)
    lacking = [c for c in [*wanted, target] if c not in frame.columns]
    if lacking:
        raise DataError(
            f"the exam {src.safe} lacks column(s) {', '.join(lacking)}: the model reads "
            f"{', '.join(wanted)} and predicts {target}", fix="pass an exam with the model's "
            "columns and target")
    if not split:
        return frame[wanted], frame[target].to_numpy()
    test_size, random_state = _split_of(split)
    _, X_test, _, y_test = split_rows(frame, Split(test_size, random_state, 0), table)
    return X_test[wanted], y_test


def from_data(text, columns, target, frames=None):
    """(Exam, Rows) of every row of data ``text`` (a path or URL, as ``data=`` takes)."""
    src = _parsed(text, target)
    X, y = _rows_of(_frame(src, frames or {}), src, "", columns, target)
    return _made(X, y, src.safe, "", target)


def rows_of(exam, given="", frames=None, model_name=""):
    """The Rows of pinned ``exam``, read again from its source (``given``: the same source
    with its credentials, as the registrar passed it); DataError unless they hash to the
    pinned digest."""
    from . import gate

    src = _parsed(given or exam.source, exam.target)
    if not given:
        if "***" in exam.source:
            raise DataError(
                f"the exam of {model_name} is {exam.source}, an address that held a secret, "
                "which is never stored: pass it again with its credentials as "
                "exam=<its address> (its rows must still hash to digest "
                f"{exam.digest})")
        if not gate.readable(src):
            raise DataError(
                f"the gate will not fetch the exam of {model_name}, {src.safe}, unless told: "
                f"list it in {gate.SOURCES_ENV} if you trust that source, or pass it as "
                "exam=<its address>")
    X, y = _rows_of(_frame(src, frames or {}), src, exam.split, exam.columns, exam.target)
    found, rows = _made(X, y, src.safe, exam.split, exam.target)
    if found.digest != exam.digest:
        raise DataError(
            f"the exam of {model_name} changed since it was pinned: {exam.where()} now has "
            f"{found.rows} rows with digest {found.digest}, pinned as {exam.rows} rows with "
            f"digest {exam.digest} (by {exam.by or 'unknown'} at {exam.at or 'unknown'})",
            fix="nothing was promoted: restore those rows, or pin the new ones with "
            f"trackfit exam set {src.safe} --model_name {model_name}")
    return rows


def fits(exam, columns, target, run_id, model_name):
    """Refuse, in one line, an exam whose columns or target are not the model's."""
    if tuple(columns) == tuple(exam.columns) and target == exam.target:
        return
    raise DataError(
        f"the exam of {model_name}, {exam.where()}, has columns {', '.join(exam.columns)} "
        f"and target {exam.target}; the model of run {run_id} reads {', '.join(columns)} and "
        f"predicts {target}: an exam scores models of one table only; register it under "
        "another model_name, or pin an exam of its table (trackfit exam set <data>)")


def leaked(count, exam, found, run_id):
    """The refusal of a challenger (its split ``found``) that trained on ``count`` of the
    exam's rows."""
    how = ("the same rows of the table the exam was held out of" if by_position(exam, found)
           else f"by row hash over its columns and {exam.target}")
    return (f"its training rows share {count} of the exam's {exam.rows} rows ({how}): it "
            "would be examined on rows it learned from; train it on data without the exam's "
            f"rows, or delete the run (mlflow runs delete --run-id {run_id}) so register "
            "weighs the next best")


def _write(model_name, exam):
    """The exam's tags on ``model_name``, the registered model made with them when it is
    not there (one atomic create; then the digest last, as the tag readers look for)."""
    from mlflow.exceptions import MlflowException

    written = exam.tags()
    try:
        client().create_registered_model(model_name, tags=written)
        return
    except MlflowException as exc:
        if store.classify(exc) != "exists":
            raise
    digest_tag = PREFIX + "digest"
    for key, value in written.items():
        if key != digest_tag:
            client().set_registered_model_tag(model_name, key, value)
    client().set_registered_model_tag(model_name, digest_tag, written[digest_tag])


def pin(model_name, exam, lock, expected=None, replacing=False):
    """Compare-and-set: pin ``exam`` (with who and when) to ``model_name`` when the pinned
    exam is still ``expected`` (None: none pinned). Returns (the exam pinned now, whether
    this call pinned it). ``lock`` is the registers' lock (registry._alias_lock): under it
    registers of one SQLite store take turns; on a server the re-read stands alone."""
    mine = replace(exam, by=who(), at=now())
    with lock():
        found = read(model_name)
        if not (found == expected if replacing else found is None):
            return found, False
        _write(model_name, mine)
        after = read(model_name)
    return after, after == mine


def refused_pin(model_name, pinned, mine):
    """The line for a register whose --exam differs from the pinned one."""
    return UsageError(
        f"the exam of {model_name} is {pinned.named()}, pinned by {pinned.by or 'unknown'} "
        f"at {pinned.at or 'unknown'}", fix=f"yours, {mine.named()}, was not pinned and nothing "
        f"was promoted: run register without exam= to be judged on the pinned one, or "
        f"change it with trackfit exam set <data> --model_name {model_name}")


def describe(exam):
    """The exam's fields, one ``name: value`` line each, for ``trackfit exam show``."""
    values = {**exam.__dict__, "columns": ",".join(exam.columns)}
    return "\n".join(f"{name}: {values[name]}" for name in FIELDS)
