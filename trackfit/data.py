"""Data: a source (embedded copy, file, URL, run artifact) -> a validated frame of the lab's columns."""

import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from . import TrackfitError, first_line, quote

FEATURES = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]
TARGET = "Y"
ALIASES = {"TARGET": TARGET}
EMBEDDED = "diabetes"
EMBEDDED_SOURCE = "sklearn.datasets.load_diabetes(scaled=False)"
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".txt": "tsv"}


@dataclass(frozen=True)
class Source:
    """A data source, parsed once: what the user gave, what it is, and what is safe to show."""

    text: str  # as given; may hold credentials, so never logged or printed
    kind: str  # embedded, file, run (runs:/ artifact), http, or fsspec (any other URL)
    safe: str  # the text with any password and query string (a SAS token, say) removed
    format: str  # parquet, csv or tsv; "" for the embedded copy or when the name does not say

    def __str__(self):
        return self.safe


def redact(text):
    """``text`` with any password and query string (a SAS token, say) removed."""
    parts = urlsplit(text)
    if not parts.scheme or len(parts.scheme) == 1:  # a path, or a Windows drive letter
        return text
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def source(data):
    """``data`` (a string, or already a Source) as a Source."""
    if isinstance(data, Source):
        return data
    text = data or EMBEDDED
    if text == EMBEDDED:
        return Source(text, "embedded", EMBEDDED, "")
    if text.startswith("runs:/"):
        kind = "run"
    elif "://" not in text:
        kind = "file"
    elif text.split("://", 1)[0] in ("http", "https"):
        kind = "http"
    else:
        kind = "fsspec"
    path = text if kind == "file" else urlsplit(text).path
    return Source(text, kind, redact(text), FORMATS.get(Path(path).suffix.lower(), ""))


def _scrub(message, src):
    """An error message with the secret parts of ``src`` taken out."""
    message = message.replace(src.text, src.safe)
    parts = urlsplit(src.text)
    for secret in (parts.query, parts.password):
        if secret:
            message = message.replace(secret, "***")
    return message


def _open_remote(src):
    """A local path or file object for a URL: runs:/, http(s) or any fsspec filesystem."""
    if src.kind == "run":
        import mlflow

        try:
            return mlflow.artifacts.download_artifacts(artifact_uri=src.text)
        except Exception as exc:
            raise TrackfitError(
                f"cannot fetch data '{src.text}': {first_line(exc)}; "
                "give the run id and artifact path of an earlier load run, "
                "e.g. runs:/<run_id>/data/diabetes.parquet"
            ) from exc
    if src.kind == "http":
        return src.text  # pandas reads these itself
    try:
        import fsspec
    except ImportError as exc:
        raise TrackfitError(
            f"reading '{src.safe}' needs fsspec and the package for its filesystem "
            "(adlfs for az:// and abfs://, s3fs for s3://, gcsfs for gs://): pip install them"
        ) from exc
    try:
        return fsspec.open(src.text, "rb").open()
    except ImportError as exc:
        raise TrackfitError(f"reading '{src.safe}' needs a package: {exc}") from exc


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


def read(data):
    """The raw frame at ``data``, or a TrackfitError naming the problem and the fix."""
    import pandas as pd

    src = source(data)
    if src.kind == "embedded":
        from sklearn.datasets import load_diabetes

        return load_diabetes(scaled=False, as_frame=True).frame
    target = src.text if src.kind == "file" else _open_remote(src)
    if isinstance(target, str) and "://" not in target:
        if not os.path.exists(target):
            raise not_found(target)
        if os.path.isdir(target):
            raise TrackfitError(f"data '{target}' is a folder; pass data= one parquet or CSV file")
        if not os.path.isfile(target):
            raise TrackfitError(
                f"data '{target}' is not a regular file (a device or a pipe); "
                "pass data= one parquet or CSV file"
            )
    kind = src.format
    if not kind:
        raise TrackfitError(
            f"cannot tell the format of data '{src.safe}': name it .parquet, .csv or .tsv"
        )
    try:
        with warnings.catch_warnings():
            # "Columns have mixed types": validate names the column and row instead.
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)
            if kind == "parquet":
                local = not isinstance(target, str) or "://" not in target
                return _read_parquet(target) if local else pd.read_parquet(target)
            return pd.read_csv(target, sep="\t" if kind == "tsv" else ",")
    except pd.errors.EmptyDataError as exc:
        raise TrackfitError(
            f"data '{src.safe}' is empty; pass a file with a header row and data"
        ) from exc
    except UnicodeDecodeError as exc:
        raise TrackfitError(
            f"data '{src.safe}' is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"position {exc.start}); pass a {kind} file, saved as UTF-8"
        ) from exc
    except pd.errors.ParserError as exc:
        ragged = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if ragged:
            header, line, saw = ragged.groups()
            raise TrackfitError(
                f"data '{src.safe}' line {line} has {saw} fields where the header has "
                f"{header}; fix or remove that line"
            ) from exc
        raise TrackfitError(
            f"data '{src.safe}' is not a readable {kind} file "
            f"({first_line(_scrub(str(exc), src))}); check the file, or re-export it"
        ) from exc
    except Exception as exc:
        reason = first_line(_scrub(str(exc), src), default=type(exc).__name__)
        if src.kind == "http" and isinstance(exc, OSError):
            raise TrackfitError(
                f"cannot reach data '{src.safe}' ({_scrub(reason, src)}); check the URL, and "
                "that its server is up and reachable from here"
            ) from exc
        raise unreadable(src, kind, reason) from exc


def validate(frame, data, require_target=True):
    """The frame reduced to the lab's columns, upper-cased, as float64; refuses bad data.

    Missing values are refused, not dropped: a model trained on silently fewer rows is
    a different model. The message says how many rows, in which columns.
    """
    import pandas as pd

    name = source(data).safe
    if len(frame) == 0:
        raise no_rows(name)
    by_upper, wanted = columns(frame.columns, name, require_target)
    out = pd.DataFrame({c: frame[by_upper[c]] for c in wanted}, copy=False)  # no copy yet
    for column in wanted:
        values = out[column]
        if pd.api.types.is_bool_dtype(values):
            raise boolean(name, column)
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
        raise missing_values(name, int(holes.any(axis=1).sum()), counts)
    endless = out.abs() == math.inf
    if endless.any().any():
        rows = endless.any(axis=1)
        counts = {c: int(n) for c, n in endless.sum().items()}
        raise infinite(name, int(rows.sum()), counts, rows.idxmax())
    return out


# The checks' messages, shared with the Spark engine (trackfit/spark.py) so both say the same.

def columns(names, name, require_target=True):
    """{lab column: the source's column} and the lab columns wanted; refuses missing ones."""
    by_upper = {}
    for column in names:
        key = str(column).strip().upper()
        key = ALIASES.get(key, key)
        if key in by_upper and key in FEATURES + [TARGET]:
            raise TrackfitError(
                f"data '{name}' has columns {quote(by_upper[key])} and {quote(column)}, which are "
                f"both {key} (names match in any case); keep one and rename or drop the other"
            )
        by_upper.setdefault(key, column)
    wanted = FEATURES + ([TARGET] if require_target else [])
    missing = [c for c in wanted if c not in by_upper]
    if missing and len(names) == 1 and ";" in str(names[0]):
        parts = {part.strip().upper() for part in str(names[0]).split(";")}
        if parts & set(FEATURES + [TARGET]):
            raise TrackfitError(
                f"data '{name}' seems to use ';' between its columns (its header is one column, "
                f"{quote(str(names[0]))}); save it comma-separated and run again"
            )
    if missing:
        unnamed = [str(i + 1) for i, c in enumerate(names)
                   if not str(c).strip() or str(c).startswith("Unnamed: ")]
        hint = f"; column(s) {', '.join(unnamed)} of its header have no name" if unnamed else ""
        raise TrackfitError(
            f"data '{name}' lacks column(s) {', '.join(missing)}; "
            f"it needs {' '.join(wanted)} (any case){hint}"
        )
    if TARGET in by_upper and TARGET not in wanted:
        wanted = wanted + [TARGET]
    return by_upper, wanted


def no_rows(name):
    return TrackfitError(f"data '{name}' has no rows; pass a file with the lab's columns")


def not_numeric(name, column, row, value):
    return TrackfitError(
        f"data '{name}' column {column} is not numeric "
        f"(row {row}: {quote(value)}); fix those values or remove the rows"
    )


def missing_values(name, rows, counts):
    where = ", ".join(f"{c}: {n}" for c, n in counts.items() if n)
    return TrackfitError(
        f"data '{name}' has missing values in {rows} row(s) ({where}); "
        "fill or drop them, then run again"
    )


def not_found(target):
    return TrackfitError(
        f"data file not found: {target}; pass data= a parquet or CSV path, a URL, "
        "or 'diabetes' for the embedded copy"
    )


def unreadable(data, kind, reason):
    src = source(data)
    return TrackfitError(
        f"data '{src.safe}' is not a readable {kind} file ({_scrub(reason, src)}); "
        f"check the file, or re-export it as {kind}"
    )


def boolean(name, column):
    return TrackfitError(
        f"data '{name}' column {column} holds true/false values; the lab's columns "
        "are numbers (SEX is 1 or 2): write them as numbers"
    )


def infinite(name, rows, counts, first):
    where = ", ".join(f"{c}: {n}" for c, n in counts.items() if n)
    return TrackfitError(
        f"data '{name}' has infinite values, or numbers too large for float64, in "
        f"{rows} row(s) ({where}; first at row {first}); replace or drop them, then run again"
    )


def check_rows(frame, data, test_size, cv):
    """Refuse a frame too small for the held-out split and the folds asked for.

    The split is train_test_split's: ceil(test_size * rows) held out. Each metric needs two
    rows (R2 is undefined on one), so the held-out part and every fold need at least two.
    """
    rows = len(frame)
    held_out = math.ceil(test_size * rows)
    training = rows - held_out
    needed = max(2 * cv, 2)
    if held_out >= 2 and training >= needed:
        return
    least = next(n for n in range(rows, 10 * (needed + 2) + 10)
                 if math.ceil(test_size * n) >= 2 and n - math.ceil(test_size * n) >= needed)
    folds = f" and {cv}-fold cross-validation needs {needed} training rows" if cv else ""
    raise TrackfitError(
        f"data '{source(data).safe}' has {rows} row(s): test_size {test_size} leaves "
        f"{training} for training and {held_out} held out; each part needs at least 2 rows"
        f"{folds}. Pass at least {least} rows"
        + (", or fewer folds (cv=0 turns them off)" if cv else "")
    )


def load(data, require_target=True):
    """Read and validate ``data``: the frame trackfit trains and predicts on."""
    return validate(read(data), data, require_target=require_target)


def dataset(frame, data, name="diabetes"):
    """The MLflow dataset for a frame, its source recorded without credentials."""
    import warnings

    import mlflow.data
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.http_dataset_source import HTTPDatasetSource

    src = source(data)
    if src.kind == "embedded":
        origin = EMBEDDED_SOURCE
    elif src.kind == "http":
        origin = HTTPDatasetSource(src.safe)
    elif src.kind == "file":
        origin = src.safe  # MLflow records a local path as a local artifact source
    else:
        origin = CodeDatasetSource(tags={"uri": src.safe})
    targets = TARGET if TARGET in frame.columns else None
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
