"""The tracking store under load: a safe first use of SQLite, retries, and plain errors."""

import contextlib
import os
import random
import re
import shutil
import sqlite3
import tempfile
import time
import weakref
from pathlib import Path

from .. import scrub  # noqa: F401 - store.scrub: the root holds it, first_line uses it


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
_POOLED = {}  # their SQLAlchemy pool entries by store, closed at exit (``at_exit``)


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
        atexit.register(at_exit, path)


def _on_connect(connection, record):
    if not isinstance(connection, sqlite3.Connection):
        return
    cursor = connection.cursor()
    try:
        files = [row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main"]
        path = os.path.realpath(files[0]) if files and files[0] else None
        if path in _WRITE_AHEAD:
            cursor.execute("PRAGMA journal_mode=WAL")  # kept in the file: once per store
            cursor.execute("PRAGMA synchronous=NORMAL")  # per connection
            _POOLED.setdefault(path, weakref.WeakSet()).add(record)
    except sqlite3.Error:  # another process holds the store: it stays in its mode
        pass
    finally:
        cursor.close()


def at_exit(path):
    """The store ``path`` at exit: its pooled connections closed (SQLAlchemy opens new ones
    if a later handler asks), then ``checkpoint``. The last connection to close removes
    ``mlflow.db-wal`` and ``-shm``, without waiting on the interpreter's last garbage
    collection to close the pool's (the command line skips it: cli.script)."""
    for record in list(_POOLED.pop(path, ())):
        with contextlib.suppress(Exception):  # already closed, or its pool gone
            record.invalidate()
    checkpoint(path)


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
    """A conflict one more attempt resolves: a locked SQLite store, or a duplicate row."""
    return classify(exc) in ("locked", "conflict")


def retry(function, *args, **kwargs):
    """``function(*args, **kwargs)``, tried again a few times after a transient store conflict."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            if attempt == ATTEMPTS or not transient(exc):
                raise
            time.sleep(0.1 * 2**attempt * random.uniform(0.5, 1.5))


# What classify() returns for each MLflow error code (REST answers and stores alike).
KINDS = {"RESOURCE_DOES_NOT_EXIST": "absent", "RESOURCE_ALREADY_EXISTS": "exists",
         "INVALID_PARAMETER_VALUE": "invalid", "UNAUTHENTICATED": "unauthenticated",
         "CUSTOMER_UNAUTHORIZED": "unauthenticated", "PERMISSION_DENIED": "denied"}
# By HTTP status, for an error whose code says no more (a plain page's 401 or 403).
STATUS_KINDS = {401: "unauthenticated", 403: "denied"}
SQLITE_KINDS = {"SQLITE_BUSY": "locked", "SQLITE_LOCKED": "locked",
                "SQLITE_READONLY": "readonly", "SQLITE_CONSTRAINT_UNIQUE": "conflict",
                "SQLITE_CONSTRAINT_PRIMARYKEY": "conflict"}
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a duplicate key
# A tracking server relays its database's duplicate key as a plain 400 or 500: the
# database's own words are all the answer carries of it.
RELAYED_CONFLICT = ("UNIQUE constraint failed", "duplicate key value")


def classify(exc):
    """What kind of store or server failure ``exc`` is, from its codes, else None.

    absent, exists, invalid (the store's or server's answer, by MLflow error code: no such
    resource, already there, a parameter it refuses); unauthenticated, denied (HTTP 401,
    403); locked, readonly, conflict,
    database (the database's own error code under MLflow's); unreachable, failing (the
    server cannot be reached, or answered 5xx to every retry). Never from trackfit's text.
    """
    code = getattr(exc, "error_code", None)
    if code in KINDS:  # MLflow's answer first: "already exists" comes from a duplicate row too
        return KINDS[code]
    database = _database_error(exc)
    if database is not None:
        return _database_kind(database)
    transport = _transport_kind(exc)
    if transport:
        return transport
    kind = STATUS_KINDS.get(http_status(exc))
    if code in ("BAD_REQUEST", "INVALID_PARAMETER_VALUE", "INTERNAL_ERROR") and any(
            words in str(exc) for words in RELAYED_CONFLICT):
        return "conflict"
    return kind


# The kinds that are the store's or server's failure, not an answer about what was asked.
FAILURES = ("unauthenticated", "denied", "locked", "readonly", "conflict", "database",
            "unreachable", "failing")


def failed(exc):
    """Whether ``exc`` is a store or server failure (exit code 4), not an answer such as
    "no such model" (the user's input: exit code 2)."""
    return classify(exc) in FAILURES


def http_status(exc):
    """The HTTP status an error carries: an MLflow error's (from its error code, which
    MLflow sets from the status of a plain HTTP answer too), a requests error's response;
    None for MLflow's catch-all (500) and anything else."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        status = exc.get_http_status_code()
        return status if status != 500 or exc.error_code != "INTERNAL_ERROR" else None
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _database_kind(database):
    name = getattr(database, "sqlite_errorname", None)
    if name:
        return SQLITE_KINDS.get(name, "database")
    state = getattr(database, "pgcode", None) or getattr(database, "sqlstate", None)
    return "conflict" if state == UNIQUE_VIOLATION else "database"


def _causes(exc):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _transport_kind(exc):
    """unreachable or failing for a request that got no answer, or only 5xx ones: the
    requests (or urllib3) error under MLflow's "API request ... failed"."""
    try:
        import requests
    except ImportError:
        return None
    for cause in _causes(exc):
        if isinstance(cause, requests.exceptions.RetryError):
            return "failing"
        if isinstance(cause, (requests.exceptions.ConnectionError,
                              requests.exceptions.Timeout)):
            reason = getattr(cause.args[0], "reason", None) if cause.args else None
            return "failing" if _is_response_error(reason) else "unreachable"
    return None


def _is_response_error(reason):
    from urllib3.exceptions import ResponseError

    return isinstance(reason, ResponseError)


def _failing_status(exc):
    """The 5xx a failing server answered every time: urllib3 names it only in its reason."""
    for cause in _causes(exc):
        reason = getattr(cause.args[0], "reason", None) if cause.args else None
        if _is_response_error(reason):
            found = re.search(r"\b(5\d\d)\b", str(reason))
            return found.group(1) if found else "5xx"
    return "5xx"


def _database_error(exc):
    """The database's own error under an MLflow store error (sqlite3's "attempt to write a
    readonly database"), or None: MLflow's message starts with SQLAlchemy's notes instead."""
    import sqlalchemy.exc

    for cause in _causes(exc):
        if isinstance(cause, sqlalchemy.exc.DBAPIError) and cause.orig is not None:
            return cause.orig
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
    """One line for a store or server failure the user can act on (classify), else None."""
    from .. import first_line

    try:
        uri = tracking_uri()
        kind = classify(exc)
    except ImportError:  # no MLflow at all: nothing to explain here
        return None
    server = uri.startswith(("http://", "https://"))
    if kind == "locked":
        return (f"the SQLite store {uri} stayed locked by other processes writing to it "
                "(database is locked); run again, or share a tracking server: make server, "
                "then MLFLOW_TRACKING_URI=http://127.0.0.1:5005")
    if kind == "readonly":
        return (f"the SQLite store {uri} cannot be written ({_database_error(exc)}); give this "
                "user write access to the file and its folder, or point MLFLOW_TRACKING_URI "
                "at a store it can write")
    if kind in ("database", "conflict") and _database_error(exc) is not None:
        return f"the store {uri} failed: {first_line(_database_error(exc))}"
    if kind == "unauthenticated":
        return (f"the tracking server {uri} refused the credentials (HTTP 401); check "
                "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
    if kind == "denied":
        return (f"the tracking server {uri} denied this user the operation (HTTP 403); "
                "ask its admin for permission")
    if server and kind == "failing":
        return (f"the tracking server {uri} answered HTTP {_failing_status(exc)} (a server "
                "error) every time; it is up but failing: see its log (make server writes "
                ".server/mlflow.log)")
    if server and kind == "unreachable":
        return (f"the tracking server {uri} is unreachable; start it (make server) or point "
                "MLFLOW_TRACKING_URI at a running one (MLFLOW_HTTP_REQUEST_MAX_RETRIES and "
                "MLFLOW_HTTP_REQUEST_TIMEOUT bound how long trackfit waits)")
    return None
