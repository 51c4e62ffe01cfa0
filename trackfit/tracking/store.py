"""The tracking store under load: a safe first use of SQLite, retries, and plain errors."""

import contextlib
import os
import random
import re
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from .. import scrub  # noqa: F401 - store.scrub: the root holds it, first_line uses it


# Conflicts one more attempt resolves: SQLite busy, or two writers inserting the same row
# (MLflow checks, then inserts, e.g. a dataset logged by two runs at once).
TRANSIENT = ("database is locked", "UNIQUE constraint failed", "duplicate key value")
ATTEMPTS = 5


def tracking_uri():
    import mlflow

    return mlflow.get_tracking_uri()


def sqlite_path(uri):
    """The file of a ``sqlite:///`` URI, else None: also for SQLite's own URI form
    (``sqlite:///file:...?mode=ro&uri=true``) and any query, which go to MLflow as given."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    path = uri[len(prefix):]
    return None if path.startswith("file:") or "?" in path else path


@contextlib.contextmanager
def file_lock(path):
    """An exclusive lock on ``path`` between processes of this machine."""
    import fcntl

    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare(experiment_name=None, default=None):
    """Open the store and set the experiment, safe when many trackfit processes start at once.

    MLflow creates a new SQLite store's tables on first use; two processes doing that at once
    leave it half-migrated, so the first use holds a lock file next to the database. The
    experiment is the one named by ``--experiment-name``, MLFLOW_EXPERIMENT_NAME or
    MLFLOW_EXPERIMENT_ID, else ``default`` (a table's ``experiment-<name>``), else
    ``experiment-diabetes``; it is set with
    ``mlflow.set_experiment``, which copes with another process creating it meanwhile.
    Under ``mlflow run`` the run, and so the experiment, already exist: nothing to set.
    Returns whether MLflow put that run in ``Default`` for want of a name
    (experiment.chosen_by_mlflow), for the step's last line to say so.
    A new SQLite store starts as a copy of :func:`template` (see :func:`seed`).
    """
    import mlflow

    from . import experiment

    path = sqlite_path(tracking_uri())
    if path:
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        with file_lock(os.path.abspath(path) + ".lock"):
            if not os.path.exists(path):
                seed(path)
            write_ahead(path)
            mlflow.MlflowClient().search_experiments(max_results=1)
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if run_id:
        return experiment.chosen_by_mlflow(run_id)
    name = experiment_name
    if not name and not os.environ.get("MLFLOW_EXPERIMENT_ID"):
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or default or experiment.EXPERIMENT
    if name:
        mlflow.set_experiment(name)
    return False


_WRITE_AHEAD = set()  # the SQLite stores this process opens in write-ahead mode


def write_ahead(path):
    """Open the SQLite store ``path`` in write-ahead-log mode, syncing at checkpoints.

    Every MLflow write is a transaction, and in SQLite's default mode each commit waits on
    about three syncs to disk (the journal, the database, the journal's removal): a tune
    trial's child run is four such commits, 80-130 ms, most of a cheap trial's time. In
    write-ahead mode with ``synchronous=NORMAL`` a commit appends to ``mlflow.db-wal`` and
    syncs only when the log is copied back into the database: a crash of this process or of
    the machine never corrupts the store; a power cut may lose the last commits. Readers
    (``mlflow ui``) no longer wait on a writer. Applied to the connections MLflow opens to
    this one file (SQLAlchemy's connect event); the mode stays with the file. At exit the log
    is copied back, so ``mlflow.db`` alone holds everything.
    """
    import atexit

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not _WRITE_AHEAD:
        event.listen(Engine, "connect", _on_connect)
    path = os.path.realpath(path)
    if path not in _WRITE_AHEAD:
        _WRITE_AHEAD.add(path)
        atexit.register(checkpoint, path)


def _on_connect(connection, _record):
    if not isinstance(connection, sqlite3.Connection):
        return
    cursor = connection.cursor()
    try:
        files = [row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"]
        if files and files[0] and os.path.realpath(files[0]) in _WRITE_AHEAD:
            cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file: once per store
            cursor.execute("PRAGMA synchronous=NORMAL")  # per connection
    except sqlite3.Error:  # another process holds the store: it stays in its mode
        pass
    finally:
        cursor.close()


def checkpoint(path):
    """Copy the write-ahead log of ``path`` back into the database and empty it."""
    if not os.path.exists(path):
        return
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error:
        pass


def cache_folder():
    """trackfit's folder in the user's cache: $XDG_CACHE_HOME/trackfit or ~/.cache/trackfit."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "trackfit"


def template():
    """An empty SQLite store migrated by this MLflow version, made once and kept in the cache.

    MLflow creates a new store by running every alembic migration (about 2 s); a copy of one
    it made before opens as MLflow's own: the schema check reads the same head revision.
    The template holds no experiment: MLflow adds the Default one, with an artifact location
    under the folder of the store it opens, the first time it opens the copy.
    Returns its path, or None when the cache folder cannot be written.
    """
    import mlflow

    path = cache_folder() / f"mlflow-{mlflow.__version__}.db"
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, suffix=".partial")
    except OSError:
        return None
    os.close(handle)
    os.remove(partial)  # MLflow creates the file itself
    try:
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{partial}")
        client.search_experiments(max_results=1)  # creates the tables, migrates, adds Default
        with contextlib.closing(sqlite3.connect(partial)) as db, db:
            db.execute("delete from experiment_tags where experiment_id = 0")
            db.execute("delete from experiments where experiment_id = 0")
        os.replace(partial, path)  # whole or not at all, for other processes making it too
    except Exception:
        if os.path.exists(partial):
            os.remove(partial)
        raise
    return path


def seed(path):
    """Start the new SQLite store ``path`` as a copy of the cached :func:`template`."""
    source = template()
    if source is None:
        return
    handle, partial = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                                       suffix=".partial")
    os.close(handle)
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def transient(exc):
    return any(text in str(exc) for text in TRANSIENT)


def retry(function, *args, **kwargs):
    """``function(*args, **kwargs)``, tried again a few times after a transient store conflict."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            if attempt == ATTEMPTS or not transient(exc):
                raise
            time.sleep(0.1 * 2**attempt * random.uniform(0.5, 1.5))


def _status(exc):
    """The HTTP status an MLflow exception carries (its error code), or None.

    A server answering in JSON gives MLflow an error code; one that answers a plain 401
    page (basic auth) leaves only the text "failed with error code 401", read below.
    """
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        status = exc.get_http_status_code()
        return status if status != 500 else None
    return None


def _database_error(exc):
    """The database's own error under an MLflow store error (sqlite3's "attempt to write a
    readonly database"), or None: MLflow's message starts with SQLAlchemy's notes instead."""
    import sqlalchemy.exc

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.orig is not None:
            return exc.orig
        exc = exc.__cause__ or exc.__context__
    return None


@contextlib.contextmanager
def quiet_database_errors():
    """MLflow's logged traceback of a database error ("SQLAlchemy database error. The following
    exception is caught.") off for the block: MLflow raises the error on, and the command line
    says it in one line (--traceback shows it whole)."""
    import logging

    logger = logging.getLogger("mlflow.store.db.utils")

    def keep(record):
        return not str(record.msg).startswith("SQLAlchemy database error")

    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)


def explain(exc):
    """One line for a store or server failure the user can act on, else None."""
    from .. import first_line

    text = str(exc)
    try:
        uri = tracking_uri()
        status = _status(exc)
    except ImportError:  # no MLflow at all: nothing to explain here
        return None
    if status == 401:
        text = "error code 401"
    elif status == 403:
        text = "error code 403"
    if "database is locked" in text:
        return (f"the SQLite store {uri} stayed locked by other processes writing to it "
                "(database is locked); run again, or share a tracking server: make server, "
                "then MLFLOW_TRACKING_URI=http://127.0.0.1:5005")
    database = _database_error(exc)
    if database is not None and "readonly database" in str(database):
        return (f"the SQLite store {uri} cannot be written ({database}); give this user write "
                "access to the file and its folder, or point MLFLOW_TRACKING_URI at a store "
                "it can write")
    if database is not None:
        return f"the store {uri} failed: {first_line(database)}"
    if "error code 401" in text:
        return (f"the tracking server {uri} refused the credentials (HTTP 401); check "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
    if "error code 403" in text:
        return (f"the tracking server {uri} denied this user the operation (HTTP 403); "
                "ask its admin for permission")
    answered = re.search(r"too many (5\d\d) error responses", text)
    if uri.startswith(("http://", "https://")) and answered:
        return (f"the tracking server {uri} answered HTTP {answered.group(1)} (a server error) "
                "every time; it is up but failing: see its log (make server writes "
                ".server/mlflow.log)")
    if uri.startswith(("http://", "https://")) and (
        "Max retries exceeded" in text or "Connection refused" in text
        or "timed out" in text or "failed with exception" in text
    ):
        return (f"the tracking server {uri} is unreachable; start it (make server) or point "
                "MLFLOW_TRACKING_URI at a running one (MLFLOW_HTTP_REQUEST_MAX_RETRIES and "
                "MLFLOW_HTTP_REQUEST_TIMEOUT bound how long trackfit waits)")
    return None

