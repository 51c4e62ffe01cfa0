"""The Spark engine: read and validate with Spark, train from Arrow, score Arrow batches.

``spark`` is a master string (``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://...``);
a process that already has an active SparkSession (a notebook) uses that session instead.
Validation says exactly what the pandas path says (the messages live in engines/checks.py)
and runs in Spark, counting rather than collecting.
"""

import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import uuid
import warnings
import zipfile
from urllib.parse import urlsplit

from .. import DataError, ServerError, first_line, optional
from . import checks
from .base import SHOWN, Engine, Scored
from .scoring import scorer
from .pandas import load as pandas_load
from .pandas import open_remote
from .source import EMBEDDED, FEATURES, FORMATS, TARGET, parse, scrub

BYTES_PER_VALUE = 8  # the float64 frame sklearn trains on
DRIVER_SHARE = 0.5  # of the driver's memory (or result size limit) one frame may take
LOG_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spark-log4j2.properties")
# The log of the Spark driver this process started: the JVM's stderr (its log4j output, the
# Python workers' tracebacks) and pyspark's and py4j's Python loggers. An error line names it
# (log_note); it is removed at exit unless one did.
LOG = None
# What an executor's error starts with when it is a data problem to say in one line.
DATA_PROBLEM = "trackfit data problem: "
# The problem an executor says when a batch it scores has missing values (score_batches).
HOLES = "missing values in a batch"
_keep_log = False
# The zip of this trackfit package that ``ship`` gives executors: built once per process.
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_package_zip = None
# Where drop-in plugins' modules live (estimators/plugins.py): files, not importable there.
DROP_IN = "trackfit_plugins."


def session(master):
    """The active SparkSession, else one for ``master`` whose executors use this interpreter."""
    SparkSession = optional("pyspark.sql", "spark", f"spark={master}",
                            also=" and Java 17").SparkSession
    # pyspark 4.3 warns about pandas 3 on every conversion; what trackfit uses works (README).
    warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas", FutureWarning)
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # Fewer glibc malloc arenas in the JVM and its Python workers, as Hadoop sets for YARN
    # containers: predicting 10,000,000 rows on local[2], the JVM peaked at 1.5 GB, not 2.9.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors' Python workers
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    builder = (SparkSession.builder.master(master).appName("trackfit")
               .config("spark.pyspark.python", sys.executable)
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               # Arrow batches of up to 100,000 rows (Spark's default 10,000) and 16 MB, so
               # a wide table's batches stay small: scoring 10,000,000 rows on local[2]
               # took 30.0 s, not 32.2 (median of three whole processes each).
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
               .config("spark.sql.execution.arrow.maxBytesPerBatch", str(16 * 1024 * 1024))
               .config("spark.ui.showConsoleProgress", "false"))
    if not _own_log_config():
        builder = builder.config("spark.driver.extraJavaOptions",
                                 f"-Dlog4j2.configurationFile={LOG_CONFIG}")
    try:
        with _stderr_to(_log_file()):  # the JVM inherits this stderr for its whole life
            started = builder.getOrCreate()
        _python_logs_to(LOG)
        return started
    except Exception as exc:
        raise ServerError(
            f"cannot start Spark with master '{master}' ({_reason(exc)})",
            fix="Spark needs Java 17 "
            "(java on PATH or JAVA_HOME) and, for spark://, a running master"
        ) from exc


def _log_file():
    global LOG
    if LOG is None:
        handle, LOG = tempfile.mkstemp(prefix="trackfit-spark-", suffix=".log")
        os.close(handle)
        atexit.register(_drop_log)
    return LOG


def _drop_log():
    if LOG and not _keep_log and os.path.exists(LOG):
        os.remove(LOG)


def log_note():
    """' (Spark's log: <file>)' for an error line when this process started Spark, else ''.

    The file is then kept.
    """
    global _keep_log
    if not LOG:
        return ""
    _keep_log = True
    return f" (Spark's log: {LOG})"


def ship(spark):
    """trackfit itself to the executors of ``spark``'s session, once per session.

    What executors run for trackfit (scoring a batch, a tune trial) is trackfit's code, and a
    cluster's Python may hold the pins but not trackfit (``mlflow run`` imports it from the
    project's folder, which executors do not see). So executors get this very package, as a
    zip on their path ahead of anything installed there (``SparkContext.addPyFile``), and
    the drop-in plugins this process loaded travel inside what is pickled (their files are
    not importable there).
    """
    from pyspark import cloudpickle

    for name, module in list(sys.modules.items()):
        if name.startswith(DROP_IN) and module is not None:
            cloudpickle.register_pickle_by_value(module)
    context = spark.sparkContext
    path = _zip_of_package()
    if os.path.basename(path) in (context._python_includes or []):
        return
    before = list(sys.path)
    context.addPyFile(path)
    sys.path[:] = before  # addPyFile puts it on this process's path too: keep the driver's own


def _zip_of_package():
    """A zip of this trackfit package (no bytecode), in a folder removed at exit."""
    global _package_zip
    if _package_zip is None:
        folder = tempfile.mkdtemp(prefix="trackfit-ship-")
        atexit.register(shutil.rmtree, folder, True)
        path = os.path.join(folder, "trackfit.zip")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for where, dirs, files in os.walk(PACKAGE):
                dirs[:] = sorted(d for d in dirs if d != "__pycache__")
                for name in sorted(files):
                    if not name.endswith((".pyc", ".pyo")):
                        full = os.path.join(where, name)
                        archive.write(full, os.path.join(
                            "trackfit", os.path.relpath(full, PACKAGE)))
        _package_zip = path
    return _package_zip


@contextlib.contextmanager
def _stderr_to(path):
    """File descriptor 2 pointing at ``path`` meanwhile: what spark-submit's JVM inherits."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _python_logs_to(path):
    """pyspark's query-context loggers (a JSON record per failed query) and py4j's to ``path``."""
    from pyspark.logger import PySparkLogger

    for name in ("DataFrameQueryContextLogger", "SQLQueryContextLogger"):
        logger = PySparkLogger.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(logging.FileHandler(path))
        logger.propagate = False
    py4j = logging.getLogger("py4j")
    py4j.addHandler(logging.FileHandler(path))
    py4j.propagate = False


def _own_log_config():
    """Whether the user configures Spark's logging or driver options themselves."""
    conf = os.environ.get("SPARK_CONF_DIR") or os.path.join(os.environ.get("SPARK_HOME", ""),
                                                             "conf")
    return os.path.exists(os.path.join(conf, "log4j2.properties")) or \
        "extraJavaOptions" in os.environ.get("PYSPARK_SUBMIT_ARGS", "")


def _active():
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


def _check_exists(master, src):
    """A missing local path refused before a local Spark starts (the pandas path's message).

    A notebook's session or a cluster may read relative paths from another filesystem
    (a lakehouse, HDFS): there ``read`` asks that filesystem instead.
    """
    if (src.kind == "file" and master.startswith("local") and _active() is None
            and _is_path(src.text) and not os.path.exists(src.text)):
        raise checks.not_found(src.text)


def _exists(spark, target):
    """Whether ``target`` exists on the filesystem Spark reads it from."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(target)
    return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path)


def _here(spark, path):
    """``path`` as Spark must be told it: a relative local path made absolute here.

    The JVM resolves a relative path against its own working folder, which is this
    process's only if the JVM started here; a path on another filesystem (HDFS) is kept.
    """
    if "://" in path or os.path.isabs(path) or path.startswith("file:"):
        return path
    jvm = spark.sparkContext._jvm
    fs = jvm.org.apache.hadoop.fs.Path(path).getFileSystem(
        spark.sparkContext._jsc.hadoopConfiguration())
    return os.path.abspath(path) if fs.getScheme() == "file" else path


def _is_path(source):
    """A path or URL, rather than a table name (``db.table``)."""
    return ("/" in source or "\\" in source or "://" in source or os.path.exists(source)
            or os.path.splitext(source)[1].lower() in FORMATS)


def _kind(target):
    """parquet, csv or tsv: from the name, or for a local folder from its part files."""
    suffix = os.path.splitext(urlsplit(target).path if "://" in target else target)[1].lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    if os.path.isdir(target):
        for name in sorted(os.listdir(target)):
            found = FORMATS.get(os.path.splitext(name)[1].lower())
            if found and not name.startswith(("_", ".")):
                return found
    return "parquet"


def read(spark, src):
    """The Spark frame at ``src`` (a parquet file or folder, CSV, or table) and its origin.

    The origin is what mlflow.data.from_spark records: {"path": ...} or {"table_name": ...}.
    """
    if src.kind == "embedded" and src.text != EMBEDDED:
        raise DataError(f"spark reads the lab's table only, not dataset '{src.text}'",
                        fix="read it "
                        "without spark= (pandas)")
    if src.kind == "embedded":
        return spark.createDataFrame(pandas_load(parse(EMBEDDED))), {}  # the lab's columns
    if src.kind == "run":
        target = open_remote(src)  # downloaded: a path the driver sees
    else:
        target = src.text
    if not _is_path(target):
        try:
            return spark.read.table(target), {"table_name": target}
        except Exception as exc:
            raise DataError(
                f"data '{src.safe}' is neither a file nor a table Spark knows "
                f"({_reason(exc, src)})",
                fix="pass data= a parquet or CSV path, a folder, or a table "
                "name"
            ) from exc
    local = _here(spark, target)  # asked of the JVM once
    if "://" not in target and not _exists(spark, local):
        raise checks.not_found(target)
    target = local
    kind = _kind(target)
    try:
        if kind == "parquet":
            frame = spark.read.parquet(target)
        else:
            frame = spark.read.csv(target, header=True, inferSchema=True,
                                   sep="\t" if kind == "tsv" else ",")
        frame.schema  # noqa: B018 (resolves the files now, so a bad one fails here)
    except Exception as exc:
        raise checks.unreadable(src, kind, _reason(exc, src)) from exc
    if not frame.columns:
        raise checks.no_rows(src.safe)
    return frame, {"path": src.safe}


# What pandas' read_csv takes for a missing value by default (its na_values).
PANDAS_MISSING = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                  "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan",
                  "null")


def as_pandas_reads_text(frame):
    """The text columns of a CSV Spark read, as pandas' read_csv reads them: its missing-value
    markers ("NA", "null", ...) missing, and a column whose other values are all numbers a
    float column (Spark's schema inference makes "NA" text, and the column with it)."""
    import pandas as pd

    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        marked = column.isin(PANDAS_MISSING)
        if not marked.any():
            continue
        column = column.astype(object).where(~marked, None)
        numbers = pd.to_numeric(column, errors="coerce")
        present = column.notna()
        frame[name] = numbers.astype(float) if present.any() and numbers[present].notna().all() \
            else column
    return frame


def _reason(exc, src=None):
    """The first line of ``exc``, without ``src``'s secrets (taken out before it is cut).

    For an error py4j passes on from the JVM, the JVM's own first line (py4j's first line only
    names the call that failed).
    """
    text = scrub(str(exc), src) if src else str(exc)
    lines = text.strip().splitlines()
    if len(lines) > 1 and lines[0].startswith("An error occurred while calling"):
        text = lines[1].lstrip(": ")
    return first_line(text, default=type(exc).__name__)


def lab_columns(frame, src, require_target=True):
    """{lab name (AGE, ..., Y): the frame's own column} and the lab names whose column is not
    a number by its type (text, booleans), from the schema alone: no job runs. A missing
    column is one line, as pandas says it."""
    from pyspark.sql.types import BooleanType, NumericType

    by_upper, wanted = checks.columns(frame.columns, src.safe, require_target)
    types = {field.name: field.dataType for field in frame.schema.fields}
    unlike = [c for c in wanted if not isinstance(types[by_upper[c]], NumericType)
              or isinstance(types[by_upper[c]], BooleanType)]
    return {c: by_upper[c] for c in wanted}, unlike


def check(frame, src, require_target=True):
    """Validate ``frame`` in Spark as data.validate does; returns (lab columns, row count).

    The lab columns map each lab name (AGE, ..., Y) to the frame's own column.
    One aggregation counts rows and missing values; nothing is collected.
    """
    from pyspark.sql import functions as F

    name = src.safe
    lab, unlike = lab_columns(frame, src, require_target)
    values = {}
    for column, source in lab.items():
        raw = F.col(f"`{source}`")
        if column in unlike:
            number = raw.try_cast("double")  # a null, not an error, under ANSI mode
            bad = frame.where(number.isNull() & raw.isNotNull())
            if bad.limit(1).count():
                row, value = _first(frame, source, number)
                raise checks.not_numeric(name, column, row, value)
        values[column] = raw.cast("double")
    holes = {c: v.isNull() | F.isnan(v) for c, v in values.items()}
    any_hole = None
    for hole in holes.values():
        any_hole = hole if any_hole is None else any_hole | hole
    counts = frame.agg(
        F.count(F.lit(1)).alias("__rows"),
        F.sum(F.when(any_hole, 1).otherwise(0)).alias("__holes"),
        *[F.sum(F.when(h, 1).otherwise(0)).alias(c) for c, h in holes.items()],
    ).first()
    if not counts["__rows"]:
        raise checks.no_rows(name)
    if counts["__holes"]:
        raise checks.missing_values(name, int(counts["__holes"]),
                                     {c: int(counts[c]) for c in holes})
    return lab, int(counts["__rows"])


def _first(frame, column, number):
    """The position and value of the first row of ``column`` that is not a number.

    Counted in the source's own order, as pandas numbers rows; only on this error path.
    """
    pairs = frame.select(f"`{column}`", number.alias("number")).rdd.zipWithIndex()
    (value, _), row = pairs.filter(lambda p: p[0][0] is not None and p[0][1] is None).first()
    return row, value


def in_source_order(frame):
    """``frame`` sorted as its files hold the rows: by file name, then row within the file.

    Spark packs part files into partitions largest first, so a plain read shuffles the
    rows, and with them the lab's train/test split. Parquet knows each row's index; a CSV
    is read in order within its file.
    """
    from pyspark.sql import functions as F

    columns = [F.col(f"`{c}`") for c in frame.columns]
    try:
        order = frame.select(*columns, F.col("_metadata.file_path").alias("__file"),
                             F.col("_metadata.row_index").alias("__row"))
    except Exception:  # no row_index (CSV): the position in the read is the file's order
        order = frame.select(*columns, F.col("_metadata.file_path").alias("__file"),
                             F.monotonically_increasing_id().alias("__row"))
    return order.orderBy("__file", "__row").select(*columns)


def lab_frame(frame, lab):
    """The Spark frame of the lab's columns, upper-cased, as doubles (what pandas' validate makes)."""
    from pyspark.sql import functions as F

    return frame.select([F.col(f"`{source}`").cast("double").alias(name)
                         for name, source in lab.items()])


def memory_budget(spark):
    """Bytes one frame may take on the driver: a share of its memory and result size limit."""
    conf = spark.sparkContext.getConf()
    limits = [_bytes(conf.get("spark.driver.memory", "1g")),
              _bytes(conf.get("spark.driver.maxResultSize", "1g")) or None]
    return int(DRIVER_SHARE * min(limit for limit in limits if limit))


def _bytes(text):
    """'1g', '512m', '4096' (MiB, as Spark reads spark.driver.memory) -> bytes."""
    text = str(text).strip().lower().rstrip("b")
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text or 0) * 2**20)


def to_pandas(spark, frame, rows, src):
    """``frame`` as pandas through Arrow, after checking it fits the driver's memory."""
    size = rows * len(frame.columns) * BYTES_PER_VALUE
    budget = memory_budget(spark)
    if size > budget:
        raise DataError(
            f"data '{src.safe}' has {rows:,} rows, about {size / 2**20:,.0f} MB "
            f"as a frame, more than the driver's budget of {budget / 2**20:,.0f} MB "
            "(half of spark.driver.memory or spark.driver.maxResultSize)", fix="train on a sample, "
            "or raise spark.driver.memory; predict scores any size without collecting"
        )
    return frame.toPandas()


class SparkEngine(Engine):
    """Reads, validates and scores with Spark, and runs tuning trials on its executors;
    ``master`` names the cluster, or an active session (a notebook's) is used as is. The
    session starts on first use."""

    name = "spark"

    def __init__(self, master):
        self.master = master

    def params(self):
        """What a run logs of the engine: the Spark master."""
        return {"spark": self.master}

    def load(self, src, require_target=True):
        """(the validated float64 pandas frame, converted with Arrow, its MLflow dataset, the
        lab's Table)."""
        import mlflow.data

        from .table import lab as lab_table

        _check_exists(self.master, src)
        spark = session(self.master)
        raw, origin = read(spark, src)
        if src.ask is not None and src.ask.given:
            return self.load_table(spark, raw, origin, src)
        lab, rows = check(raw, src, require_target)
        frame = lab_frame(in_source_order(raw) if origin.get("path") else raw, lab)
        targets = TARGET if TARGET in lab else None
        dataset = mlflow.data.from_spark(frame, targets=targets, name="diabetes", **origin)
        return to_pandas(spark, frame, rows, src), dataset, lab_table(FEATURES)

    def load_table(self, spark, raw, origin, src):
        """(frame, dataset, Table) of a table the user named by its target: the rows in
        their source's order, converted with Arrow, and their roles inferred as the pandas
        engine infers them, so a table trains to the same numbers on either engine."""
        import mlflow.data

        from . import table as tables

        ordered = in_source_order(raw) if origin.get("path") else raw
        rows = ordered.count()
        frame = to_pandas(spark, ordered, rows, src)
        if origin.get("path") and _kind(origin["path"]) != "parquet":
            frame = as_pandas_reads_text(frame)
        frame, table = tables.infer(frame, src.ask, src.safe, src.table_name)
        with warnings.catch_warnings():  # "Inferred schema contains integer column(s)"
            warnings.simplefilter("ignore", UserWarning)
            dataset = mlflow.data.from_spark(ordered, targets=table.target, name=table.name,
                                             **origin)
        return frame, dataset, table

    def check_output(self, output):
        """Any output is a folder Spark writes (parquet, or CSV for a .csv name)."""

    def score(self, src, model, needed, output, label, text=()):
        """Score ``src`` with the checked model folder ``model``: a ``Scored`` whose preview
        is the first rows when shown, none when written. The rows stay in Spark. A model of
        the lab's columns only: ``text`` columns, or columns other than the lab's, are one
        line.

        Every input column is kept as it was; ``prediction`` is added. With ``output`` the
        result is written as a parquet (or, for a .csv name, CSV) folder: complete or absent.
        """
        _check_exists(self.master, src)
        spark = session(self.master)
        raw, _ = read(spark, src)
        if text or not {n.strip().upper() for n in needed} <= set(FEATURES):
            scored, rows = self.score_table(raw, src, model, needed, label, text)
        else:
            scored, rows = self.score_lab(spark, raw, src, model, needed, label, bool(output))
        with holes_counted(raw, src), executor_data_problems():
            if output:
                write(spark, scored, output)
                return Scored(rows, output, scored.limit(0).toPandas())  # no job: no rows
            return Scored(rows, output, scored.limit(SHOWN).toPandas())

    def score_lab(self, spark, raw, src, model, needed, label, every=False):
        """(the scored Spark frame, its row count) for a model of the lab's columns: each
        validated as the lab's, in the signature's order.

        ``every``: every row is scored (written, not previewed). Then columns that hold
        numbers by their type are checked for missing values by the executors as they score
        (``HOLES``), not by a pass of their own over the data first (``check``): on
        10,000,000 rows that pass was a whole read of the data. A preview scores its first
        rows only, so it checks them all first, as pandas does.
        """
        import mlflow.pyfunc
        from pyspark.sql import functions as F

        lab, unlike = lab_columns(raw, src, require_target=False)
        score = scorer(model)  # None: not a checked copy (--trust-model), pyfunc's udf
        holes = every and not unlike and score is not None
        if holes:
            rows = raw.count()  # a parquet source's footers: its row groups' counts
            if not rows:
                raise checks.no_rows(src.safe)
        else:
            lab, rows = check(raw, src, require_target=False)
        missing = [n for n in needed if n.strip().upper() not in lab]
        if missing:
            raise DataError(
                f"data '{src.safe}' lacks column(s) {', '.join(missing)} "
                f"that model '{label}' needs: {' '.join(needed)}"
            )
        if score is not None:
            ship(spark)  # the executors load the checked bytes with this trackfit's trust
            return score_batches(raw, [lab[n.strip().upper()] for n in needed], needed, score,
                                 f"model '{label}'", f"data '{src.safe}'", holes=holes), rows
        udf = mlflow.pyfunc.spark_udf(spark, model, result_type="double", env_manager="local")
        features = [F.col(f"`{lab[n.strip().upper()]}`").cast("double") for n in needed]
        return raw.withColumn("prediction", udf(*features)), rows  # in the signature's order

    def score_table(self, raw, src, model, needed, label, text):
        """(the scored Spark frame, its row count) for a table's model (a pipeline of raw
        columns), on the executors: each batch's ``text`` columns as text, the others as
        numbers, missing ones imputed by the model. A column it needs that the rows lack is
        one line."""
        missing = [n for n in needed if n not in raw.columns]
        if missing:
            raise DataError(
                f"data '{src.safe}' lacks column(s) {', '.join(missing)} that model "
                f"'{label}' needs: {', '.join(needed)}", fix="add them (empty values are imputed)")
        score = scorer(model)
        if score is None:
            raise DataError(f"spark scores a table's model through trackfit's trust check "
                            "only",
                            fix=f"predict model '{label}' without --trust-model, or without "
                            "spark= (pandas)")
        ship(session(self.master))
        scored = score_batches(raw, list(needed), needed, score, f"model '{label}'",
                               f"data '{src.safe}'", text=list(text))
        return scored, raw.count()

    def show(self, scored):
        """Print the first 20 predictions as CSV on stdout, and say so on stderr."""
        scored.preview.to_csv(sys.stdout, index=False)
        print(f"predict: first {SHOWN} predictions shown; pass output= a folder to write them "
              "all", file=sys.stderr)

    def note(self):
        """Where the Spark driver this process started logs, for an error line (log_note)."""
        return log_note()

    def check_trials(self):
        """Tuning trials on Spark need pyspark (and Java) and joblibspark."""
        optional("pyspark", "spark", f"trials_on={self.master}", also=" and Java 17")
        optional("joblibspark", "tune", f"trials_on={self.master}")

    def trials(self):
        """joblib's 'spark' backend on this engine's session: the active session, or one
        whose executors use this interpreter and get this trackfit (``ship``): a trial is
        trackfit's code (fitting.pool.evaluate)."""
        register_spark = optional("joblibspark", "tune",
                                  f"trials_on={self.master}").register_spark
        ship(session(self.master))
        register_spark()
        return "spark"


@contextlib.contextmanager
def executor_data_problems():
    """A data problem an executor found (``DATA_PROBLEM``) as a DataError of its one line;
    Spark wraps it in the Python worker's traceback."""
    try:
        yield
    except Exception as exc:
        text = str(exc)
        if DATA_PROBLEM not in text:
            raise
        line = text[text.index(DATA_PROBLEM) + len(DATA_PROBLEM):].splitlines()[0]
        raise DataError(line) from None


@contextlib.contextmanager
def holes_counted(frame, src):
    """An executor's find of missing values (``HOLES``) said as pandas says it: the rows and
    columns that have them counted by ``check``, on this error path only."""
    try:
        yield
    except DataError as exc:
        if str(exc) == HOLES:
            check(frame, src, require_target=False)
        raise


def score_batches(frame, columns, names, score, model="the model", data="the data", text=None,
                  holes=False):
    """``frame`` with a double ``prediction`` column: ``score`` on each Arrow batch.

    A batch with a prediction that is not finite fails the job with one line naming
    ``model`` and ``data`` (``executor_data_problems`` says it), as the pandas engine does.

    ``columns`` of each batch are laid out as one float64 block named ``names`` (the
    signature's) straight from Arrow (``arrow_block``), as scoring.block lays out a frame,
    as the model was fitted and as the pandas engine reads them (text ' 59' is 59); every
    other column is passed on as Arrow holds it, never
    converted to pandas and back (mapInArrow: on 10,000,000 rows on local[2], scoring took
    5.0 s where mapInPandas took 6.6 s, and scoring and writing 11.6 s, not 18.1).
    ``text``: a table's model: its columns as the model reads them raw (text as text,
    the rest as numbers, missing values left to the model), not one float64 block.
    ``holes``: a batch with a missing value fails the job with ``HOLES``, before it is
    scored.
    """
    from pyspark.sql.types import DoubleType, StructField, StructType

    prediction = StructField("prediction", DoubleType())
    fields = [prediction if f.name == "prediction" else f for f in frame.schema.fields]
    if "prediction" not in frame.columns:
        fields.append(prediction)
    names_out = [f.name for f in fields]
    at_prediction = names_out.index("prediction")

    def predict(batches):
        import numpy as np
        import pyarrow as pa

        for batch in batches:
            features = batch.select(columns)
            if text is None:
                inputs = arrow_block(features, names)
            else:
                inputs = raw_columns(features.to_pandas().set_axis(names, axis=1), text)
            if holes and np.isnan(inputs.to_numpy()).any():
                raise ValueError(f"{DATA_PROBLEM}{HOLES}")
            with np.errstate(over="ignore", invalid="ignore"):  # said below, in one line
                values = score(inputs)
            endless = int((~np.isfinite(values)).sum())
            if endless:
                raise ValueError(
                    f"{DATA_PROBLEM}{model} predicts a number that is not finite for {endless} "
                    f"row(s) of a batch of {data}: their values are far outside the rows it was "
                    "trained on; check or drop those rows")
            scored = pa.array(values, pa.float64())
            kept = batch.columns[:at_prediction] + batch.columns[at_prediction + 1:]
            yield pa.RecordBatch.from_arrays(
                kept[:at_prediction] + [scored] + kept[at_prediction:], names=names_out)

    return frame.mapInArrow(predict, StructType(fields))


def arrow_block(batch, names):
    """An Arrow batch's columns as one float64 block named ``names``, as scoring.block lays
    out a frame's: a column of numbers straight from Arrow (a null is NaN), any other (text
    such as ' 59') through pandas, as block reads it. One copy, not a frame and then a block."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    values = np.empty((batch.num_rows, len(names)), order="F")
    for at, column in enumerate(batch.columns):
        kind = column.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            values[:, at] = column.to_numpy(zero_copy_only=False)
        else:
            values[:, at] = column.to_pandas().to_numpy(dtype="float64")
    return pd.DataFrame(values, columns=list(names), copy=False)


def raw_columns(features, text):
    """A batch as a table's model reads it: ``text`` columns as text (None where missing),
    the others as float64 (NaN where missing or not a number)."""
    import numpy as np
    import pandas as pd

    from .table import as_text

    def numbers(values):  # a column of numbers by its type needs no parsing: one cast
        if pd.api.types.is_numeric_dtype(values):
            return values.to_numpy(dtype="float64", na_value=np.nan)
        return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()

    return pd.DataFrame({name: as_text(values) if name in text else numbers(values)
                         for name, values in features.items()}, index=features.index)


def write(spark, frame, output):
    """Write ``frame`` to a sibling temporary path, then rename it to ``output``."""
    jvm = spark.sparkContext._jvm
    target = jvm.org.apache.hadoop.fs.Path(_here(spark, output))
    fs = target.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    parent = target.getParent()
    if parent is not None and not fs.exists(parent):
        raise DataError(f"output folder {parent} does not exist", fix="create it or pick another")
    partial = jvm.org.apache.hadoop.fs.Path(parent, f".{target.getName()}.{uuid.uuid4().hex}.partial")
    kind = "csv" if output.rstrip("/").lower().endswith(".csv") else "parquet"
    try:
        writer = frame.write.mode("error")
        if kind == "csv":
            writer.csv(partial.toString(), header=True)
        else:
            writer.parquet(partial.toString())
        if fs.exists(target):
            fs.delete(target, True)
        if not fs.rename(partial, target):
            raise DataError(f"cannot move the predictions into {output}", fix="is it writable?")
    finally:
        if fs.exists(partial):
            fs.delete(partial, True)
