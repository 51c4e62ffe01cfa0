"""The pandas engine, the default: one machine, nothing to start.

Reads a source into a frame, validates it into the lab's columns as float64, records it as
an MLflow dataset, and scores frames with the checked model's own predict.
"""

import math
import os
import re
import shutil
import sys
import tempfile
import warnings

from .. import DataError, first_line
from . import scoring
from . import table as tables
from .base import Engine, Scored
from .checks import boolean, columns, infinite, missing_values, no_rows, not_found
from .checks import not_numeric, unreadable
from .source import EMBEDDED, EMBEDDED_SOURCE, FEATURES, TARGET, scrub



READ_TIMEOUT_ENV = "TRACKFIT_READ_TIMEOUT"
# Seconds a remote read may take in all, however slowly the bytes arrive: MLflow's own bound
# on a request to the tracking server (MLFLOW_HTTP_REQUEST_TIMEOUT) is 120 s too, and a
# 1,000,000-row parquet (88 MB) arrives in about 30 s over a 25 Mbit/s link.
READ_TIMEOUT = 120.0
HTTP_TIMEOUT = 60  # seconds an http(s) server may stay silent before the read gives up
CHUNK = 1 << 20


def read_timeout():
    """The total deadline of a remote read: TRACKFIT_READ_TIMEOUT seconds, else 120."""
    text = os.environ.get(READ_TIMEOUT_ENV, "").strip()
    if not text:
        return READ_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise DataError(f"{READ_TIMEOUT_ENV}={text!r} is not a number of seconds above 0",
                        fix=f"set it to one, e.g. {READ_TIMEOUT_ENV}=300, or unset it")
    return seconds


def open_remote(src, folder=None):
    """A local copy of remote Source ``src`` (runs:/, http(s) or any fsspec URL) in
    ``folder`` (a new temporary one when None), fetched within :func:`read_timeout` in all.

    The copy runs in a thread of its own: when the deadline passes first, the step stops
    with one line and the thread stops at its next chunk (or its socket's silence timeout).
    """
    import threading

    seconds = read_timeout()
    folder = folder or tempfile.mkdtemp(prefix="trackfit-data-")
    stop, done = threading.Event(), {}

    def work():
        try:
            done["path"] = _download(src, folder, stop)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            done["error"] = exc

    worker = threading.Thread(target=work, name="trackfit-read", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        stop.set()
        raise DataError(
            f"data '{src.safe}' did not arrive within {seconds:g} s ({READ_TIMEOUT_ENV}): "
            "its server is slow or stalled, or the file too large for that time", fix="check the "
            f"server, or raise {READ_TIMEOUT_ENV}")
    if "error" in done:
        raise done["error"]
    return done["path"]


def _download(src, folder, stop):
    """Copy ``src`` into ``folder`` chunk by chunk, until done or ``stop`` is set; the path."""
    if src.kind == "run":
        import mlflow

        try:
            return mlflow.artifacts.download_artifacts(artifact_uri=src.text, dst_path=folder)
        except Exception as exc:
            raise DataError(
                f"cannot fetch data '{src.text}': {first_line(exc)}",
                fix="give the run id and artifact path of an earlier load run, "
                "e.g. runs:/<run_id>/data/diabetes.parquet"
            ) from exc
    if src.kind == "http":
        import urllib.request

        opened = urllib.request.urlopen(src.text, timeout=HTTP_TIMEOUT)
    else:
        try:
            import fsspec
        except ImportError as exc:
            raise DataError(
                f"reading '{src.safe}' needs fsspec and the package for its filesystem "
                "(adlfs for az:// and abfs://, s3fs for s3://, gcsfs for gs://)",
                fix="pip install them", sep=": ") from exc
        try:
            opened = fsspec.open(src.text, "rb").open()
        except ImportError as exc:
            raise DataError(f"reading '{src.safe}' needs a package: {exc}") from exc
    path = os.path.join(folder, f"data.{src.format or 'bin'}")
    with opened, open(path, "wb") as copy:
        read = getattr(opened, "read1", opened.read)  # what has arrived, not a full chunk
        while not stop.is_set():
            chunk = read(CHUNK)
            if not chunk:
                break
            copy.write(chunk)
    return path


def _read_parquet(target):
    """A parquet file as a frame, holding its data about once.

    pandas' read_parquet keeps arrow's read buffers and table alongside the frame (a
    1,000,000-row file of 88 MB peaked at +290 MB); reading without pre-buffering and
    handing arrow's columns over one by one peaks at +170 MB. The frame's columns stay in
    arrow's memory pool, which keeps what it frees for arrow; :func:`release` hands that back.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(target, pre_buffer=False)
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    del table
    release()  # the read's own pages: about the frame's size again
    return frame


def release():
    """Hand back to the system the memory arrow's pool kept after frames it held were dropped.

    Numpy and scikit-learn allocate elsewhere: without this, memory a dropped frame held in
    arrow's pool stays resident and every later copy of the rows comes on top.
    """
    import sys

    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()


def read(src):
    """The raw frame at Source ``src``, or a DataError naming the problem and the fix.

    A remote source is copied to a temporary file first, within TRACKFIT_READ_TIMEOUT."""
    if src.kind == "embedded" and src.text == EMBEDDED:
        from sklearn.datasets import load_diabetes

        return load_diabetes(scaled=False, as_frame=True).frame
    if src.kind == "embedded":  # a dataset a plugin registered
        return named(src.text).load()
    if src.kind == "file":
        return read_file(src, src.text)
    known_format(src)
    folder = tempfile.mkdtemp(prefix="trackfit-data-")
    try:
        try:
            target = open_remote(src, folder)
        except DataError:
            raise
        except Exception as exc:
            reason = first_line(scrub(str(exc), src), default=type(exc).__name__)
            if src.kind == "http" and isinstance(exc, OSError):
                raise DataError(
                    f"cannot reach data '{src.safe}' ({reason})", fix="check the URL, and that its "
                    "server is up and reachable from here") from exc
            raise unreadable(src, src.format, reason) from exc
        return read_file(src, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def known_format(src):
    """Refuse a source whose name does not say parquet, CSV or TSV."""
    if not src.format:
        raise DataError(
            f"cannot tell the format of data '{src.safe}'", fix="name it .parquet, .csv or .tsv",
            sep=": ")


def read_file(src, target):
    """The raw frame in the local file ``target`` (Source ``src``, or its copy)."""
    import pandas as pd

    if not os.path.exists(target):
        raise not_found(target)
    if os.path.isdir(target):
        raise DataError(f"data '{target}' is a folder", fix="pass data= one parquet or CSV file")
    if not os.path.isfile(target):
        raise DataError(
            f"data '{target}' is not a regular file (a device or a pipe)",
            fix="pass data= one parquet or CSV file"
        )
    known_format(src)
    kind = src.format
    try:
        with warnings.catch_warnings():
            # "Columns have mixed types": validate names the column and row instead.
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            if kind == "parquet":
                frame = _read_parquet(target)
                # a key pandas saved as the index (patient_id) comes back as a column
                return frame if frame.index.names == [None] else frame.reset_index()
            # low_memory=False: each column's type read from all its rows at once, not
            # per chunk, so a passed-on column is one type (a key that turns to text
            # after 262,144 rows cannot be written to parquet as ints and strings).
            return pd.read_csv(target, sep="\t" if kind == "tsv" else ",", low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(
            f"data '{src.safe}' is empty", fix="pass a file with a header row and data"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DataError(
            f"data '{src.safe}' is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"position {exc.start})", fix=f"pass a {kind} file, saved as UTF-8"
        ) from exc
    except pd.errors.ParserError as exc:
        ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if ragged:
            header, line, saw = ragged.groups()
            raise DataError(
                f"data '{src.safe}' line {line} has {saw} fields where the header has "
                f"{header}", fix="fix or remove that line"
            ) from exc
        raise DataError(
            f"data '{src.safe}' is not a readable {kind} file "
            f"({first_line(scrub(str(exc), src))})", fix="check the file, or re-export it"
        ) from exc
    except Exception as exc:
        reason = first_line(scrub(str(exc), src), default=type(exc).__name__)
        raise unreadable(src, kind, reason) from exc


def validate(frame, src, require_target=True):
    """The frame reduced to the lab's columns, upper-cased, as float64; refuses bad data.

    Missing values are refused, not dropped: a model trained on silently fewer rows is
    a different model. The message says how many rows, in which columns.
    """
    import pandas as pd

    name = src.safe
    if len(frame) == 0:
        raise no_rows(name)
    by_upper, wanted = columns(frame.columns, name, require_target)
    out = pd.DataFrame({c: frame[by_upper[c]] for c in wanted}, copy=False)  # no copy yet
    for column in wanted:
        values = out[column]
        if pd.api.types.is_bool_dtype(values):
            raise boolean(name, column)
        if pd.api.types.is_datetime64_any_dtype(values) or \
                pd.api.types.is_timedelta64_dtype(values):  # to_numeric makes them nanoseconds
            raise not_numeric(name, column, values.index[0], values.iloc[0])
        if not pd.api.types.is_numeric_dtype(values):
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values[numbers.isna() & values.notna()]
            if len(bad):
                raise not_numeric(name, column, bad.index[0], bad.iloc[0])
            out[column] = numbers
    out = out.astype("float64")
    holes = out.isna()
    if holes.any().any():
        counts = {c: int(n) for c, n in holes.sum().items()}
        raise missing_values(name, int(holes.any(axis=1).sum()), counts, require_target)
    endless = out.abs() == math.inf
    if endless.any().any():
        rows = endless.any(axis=1)
        counts = {c: int(n) for c, n in endless.sum().items()}
        raise infinite(name, int(rows.sum()), counts, rows.idxmax())
    return out


def load(src, require_target=True):
    """Read and validate Source ``src``: the frame trackfit trains and predicts on."""
    return validate(read(src), src, require_target=require_target)


def diabetes():
    """The lab's 442 rows, the diabetes dataset's loader: the ten measurements and Y."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(scaled=False, as_frame=True).frame
    frame.columns = FEATURES + [TARGET]
    return frame


def named(name):
    """The dataset a plugin registered as ``name``."""
    from ..estimators import plugins

    return plugins.catalogue().dataset(name)


def lab_shaped(raw):
    """Whether raw rows look like the lab's: their header names at least half of the lab's
    columns (in any case, also run together by another separator); then the lab's checks
    and messages apply."""
    lab = set(FEATURES + [TARGET])
    header = " ".join(str(c) for c in raw.columns).upper()
    return 2 * len(lab & set(re.split(r"[^A-Z0-9]+", header))) >= len(lab)


def load_table(src, require_target=True):
    """(the frame trackfit trains on, its Table) from Source ``src``.

    The lab's table when the user names no target and the rows are the lab's (the embedded
    copy, or a file of the lab's columns): validated as the lab always was. Otherwise the
    table is inferred from the rows, with the dataset's own target or the one asked for."""
    ask = src.ask or tables.Ask()
    # the lab's copy read as a table: in the lab's column names, as its dataset gives it
    raw = diabetes() if src.text == EMBEDDED and ask.given else read(src)
    if not ask.given and (src.text == EMBEDDED or src.kind != "embedded" and lab_shaped(raw)):
        return validate(raw, src, require_target), tables.lab(FEATURES)
    if not ask.target and src.kind != "embedded":
        names = [str(c) for c in raw.columns]
        raise tables.no_target(names, src.safe, [c for c in FEATURES + [TARGET]
                                                 if c not in {n.upper() for n in names}])
    if not ask.target:  # a named dataset: its own target
        from dataclasses import replace

        ask = replace(ask, target=TARGET if src.text == EMBEDDED else named(src.text).target)
    frame, table = tables.infer(raw, ask, src.safe, src.table_name)
    numbers = frame[table.columns(tables.NUMBER)]
    endless = numbers.abs() == math.inf
    if endless.any().any():
        rows = endless.any(axis=1)
        counts = {c: int(n) for c, n in endless.sum().items()}
        raise infinite(src.safe, int(rows.sum()), counts, rows.idxmax())
    return frame, table


def dataset(frame, src, name="diabetes", target=TARGET):
    """The MLflow dataset for a frame, its source recorded without credentials."""
    import warnings

    import mlflow.data
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    if src.kind == "embedded" and src.text == EMBEDDED:
        origin = EMBEDDED_SOURCE
    elif src.kind == "embedded":
        loader = str(named(src.text).loader)
        origin = CodeDatasetSource(tags={"dataset": src.text, "loader": loader})
    elif src.kind == "http":
        origin = HTTPDatasetSource(src.safe)
    elif src.kind == "file":
        origin = src.safe  # MLflow records a local path as a local artifact source
    else:
        origin = CodeDatasetSource(tags={"uri": src.safe})
    targets = target if target in frame.columns else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "can be interpreted in multiple ways"
        return mlflow.data.from_pandas(frame, source=origin, targets=targets, name=name,
                                       digest=digest(frame))


def digest(frame):
    """MLflow's digest of a frame (``compute_pandas_digest``), the same value, made faster.

    MLflow hashes the first 10,000 rows of the string and number columns, but finds the
    string columns by looking at the type of every cell of every row: 3 s and a second copy
    of the frame for 1,000,000 rows. A frame whose columns are all numbers (every frame
    ``validate`` makes) has no string column, so only the hash is left to do.
    """
    import numpy as np
    import pandas as pd
    from mlflow.data.digest_utils import MAX_ROWS, compute_pandas_digest, get_normalized_md5_digest

    numeric = frame.select_dtypes(include=[np.number]).columns
    if len(numeric) != len(frame.columns) or any(
            pd.api.types.is_bool_dtype(frame[c]) for c in frame.columns):
        return compute_pandas_digest(frame)
    return get_normalized_md5_digest(
        [pd.util.hash_pandas_object(frame.head(MAX_ROWS)).values, np.int64(len(frame))]
        + [str(x).encode() for x in frame.columns]
    )


OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv"}


def output_folder(output):
    """The folder ``output`` goes in; DataError when it does not exist."""
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise DataError(f"output folder {folder} does not exist", fix="create it or pick another")
    return folder


def write(frame, output):
    """Write all of ``frame`` to ``output`` or nothing: a temporary file renamed into place.

    The file gets the permissions the umask gives any new file, as pandas' own write would.
    """
    kind = OUTPUT_FORMATS[os.path.splitext(output)[1].lower()]
    folder = output_folder(output)
    # a dot file named for the output: what a killed write leaves is plainly this one's
    handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(output)}.",
                                       suffix=".partial")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)  # mkstemp makes it 0600
    try:
        if kind == "parquet":
            frame.to_parquet(partial, index=False)
        else:
            frame.to_csv(partial, index=False)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def table_rows(raw, src, needed, text, label):
    """The columns ``needed`` of raw rows as a model of a table reads them: ``text`` ones as
    text (None where missing), the others as float64 (NaN where missing: the model imputes);
    a column it needs that is not there, or text in a number column, is one line. Other
    columns are not read (they stay in the output)."""
    import pandas as pd

    raw = raw.rename(columns=str)
    missing = [name for name in needed if name not in raw.columns]
    if missing:
        raise DataError(
            f"data '{src.safe}' lacks column(s) {', '.join(missing)} that model '{label}' "
            f"needs: {', '.join(needed)}", fix="add them (empty values are imputed)")
    if len(raw) == 0:
        raise no_rows(src.safe)
    inputs = {}
    for name in needed:
        values = raw[name]
        if name in text:
            inputs[name] = tables.as_text(values)
            continue
        numbers = pd.to_numeric(values, errors="coerce") if not \
            pd.api.types.is_bool_dtype(values) else values.astype("float64")
        bad = values[numbers.isna() & values.notna()]
        if len(bad):
            raise not_numeric(src.safe, name, bad.index[0], bad.iloc[0])
        inputs[name] = numbers.astype("float64")
    return pd.DataFrame(inputs, index=raw.index)


class PandasEngine(Engine):
    """Reads, validates and scores in this process with pandas; tuning trials run in worker
    processes of this machine."""

    name = "pandas"

    def params(self):
        """What a run logs of the engine: nothing, pandas is the default."""
        return {}

    def load(self, src, require_target=True):
        """(the validated frame, its MLflow dataset, its Table): the lab's columns as
        float64, or the table the rows and the user's ask make."""
        frame, table = load_table(src, require_target=require_target)
        return frame, dataset(frame, src, table.name, table.target), table

    def check_output(self, output):
        if output and os.path.splitext(output)[1].lower() not in OUTPUT_FORMATS:
            raise DataError(f"output '{output}' must end in .parquet or .csv")
        if output and os.path.isdir(output):
            raise DataError(f"output '{output}' is a folder", fix="pass a file path ending in "
                            ".parquet or .csv")
        if output:
            output_folder(output)  # said before the rows are read and scored

    def score(self, src, model, needed, output, label, text=()):
        """Score ``src`` with the checked model folder ``model``: a ``Scored`` whose preview
        is every row.

        The input columns come back as they were, with a ``prediction`` column added;
        with ``output`` all of it is written there. ``label`` names the model in errors.
        ``text``: the columns of ``needed`` the model reads as text; a model of the lab's
        columns reads them validated as the lab's, any other its columns as named.
        """
        import numpy as np

        raw = read(src)
        if text or not set(needed) <= set(FEATURES):
            if src.text == EMBEDDED:
                raw = diabetes()
            inputs = table_rows(raw, src, needed, text, label)
        else:
            frame = validate(raw, src, require_target=False)  # the model's input only
            if src.kind == "embedded":
                raw = frame  # no file of the user's: the embedded copy in the lab's columns
            missing = [name for name in needed if name not in frame.columns]
            if missing:
                raise DataError(
                    f"data '{src.safe}' lacks column(s) {', '.join(missing)} "
                    f"that model '{label}' needs: {' '.join(needed)}"
                )
            inputs = scoring.block(frame, needed)  # one float64 block
            del frame
        with np.errstate(over="ignore", invalid="ignore"):  # said below, in one line
            predictions = np.asarray(scoring.predictor(model)(inputs), dtype="float64")
        endless = ~np.isfinite(predictions)
        if endless.any():
            raise DataError(
                f"model '{label}' predicts a number that is not finite for "
                f"{int(endless.sum())} row(s) of data '{src.safe}' (first at row "
                f"{int(np.flatnonzero(endless)[0])}): their values are far outside the rows it "
                "was trained on", fix="check or drop those rows")
        result = raw.assign(prediction=predictions)
        if output:
            write(result, output)
        return Scored(len(result), output, result)

    def show(self, scored):
        """Print every prediction as CSV on stdout."""
        scored.preview.to_csv(sys.stdout, index=False)

    def note(self):
        """Nothing: pandas logs nowhere else."""
        return ""

    def check_trials(self):
        """Worker processes of this machine need nothing more."""

    def trials(self):
        """Tuning trials run in joblib's loky worker processes of this machine."""
        return "loky"
