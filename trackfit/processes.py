"""Servers trackfit starts (``mlflow models serve``, ``mlflow ui``) stop when trackfit stops.

A server runs in a process group of its own, so every process it starts (uvicorn and its
workers, gunicorn) is in that group. Ctrl-C, SIGTERM and SIGHUP to trackfit stop the whole
group: TERM first, KILL after a grace period.
"""

import contextlib
import os
import signal
import subprocess
import threading

GRACE = 10  # seconds a server has to stop after TERM before it is killed
SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
    """trackfit got SIGTERM or SIGHUP while a server ran; its group has been stopped.

    A BaseException, as KeyboardInterrupt is: no ``except Exception`` swallows it.
    """

    def __init__(self, signum):
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum

    @property
    def exit_code(self):
        return 128 + self.signum


def _signal_group(pgid, signum):
    try:
        os.killpg(pgid, signum)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop(child):
    """Stop ``child``'s process group: TERM, then KILL what is left after GRACE seconds."""
    if not _signal_group(child.pid, signal.SIGTERM):
        child.poll()
        return
    try:
        child.wait(timeout=GRACE)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(child.pid, signal.SIGKILL)  # the leader or any process it left behind
    child.wait()


@contextlib.contextmanager
def group(command, **popen):
    """``command`` started as the leader of a new process group; stopped with it on leaving.

    Inside the block SIGTERM and SIGHUP raise :class:`Stopped` (in the main thread, where
    Python runs signal handlers); Ctrl-C raises KeyboardInterrupt as usual. Either way, and
    on any other exit, the group is stopped before the block is left.
    """
    child = subprocess.Popen(command, start_new_session=True, **popen)
    with _handling(SIGNALS, _raise):
        try:
            yield child
        finally:
            with _handling(SIGNALS, signal.SIG_IGN):  # a second TERM must not cut it short
                stop(child)


def _raise(signum, frame):
    raise Stopped(signum)


@contextlib.contextmanager
def _handling(signals, handler):
    """``handler`` for ``signals`` inside the block, the earlier ones restored after. Only
    in the main thread, where Python runs signal handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, before in previous.items():
            signal.signal(s, before)


def stoppable():
    """SIGTERM and SIGHUP raise :class:`Stopped` inside the block, as Ctrl-C raises
    KeyboardInterrupt: a step run then ends KILLED, not left RUNNING."""
    return _handling(SIGNALS, _raise)


@contextlib.contextmanager
def deferred():
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done, then raise as they would
    have: for a few writes that must all happen or none (a model version and its alias)."""
    received = []
    with _handling((signal.SIGINT, *SIGNALS), lambda signum, frame: received.append(signum)):
        yield
    if received:
        if received[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Stopped(received[0])
