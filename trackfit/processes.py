"""Servers trackfit starts (``mlflow models serve``, ``mlflow ui``) stop when trackfit stops.

A server runs in a process group of its own, so every process it starts (uvicorn and its
workers, gunicorn) is in that group. Ctrl-C, SIGTERM and SIGHUP to trackfit stop the whole
group: TERM first, KILL after a grace period.

``forked`` runs a function in a child process with capped memory and time, forked from a
warm interpreter started once per process (``start_forker``): what trackfit.trust's probe
of a model runs in.
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


# Children forked from a warm interpreter: trackfit.trust's probe loads a model and predicts
# in one. The forking process imports what the children need once (seconds), then waits for
# requests on its stdin, forks one child per request and answers on its stdout; it runs no
# thread (BLAS and OpenMP are held to one), so forking it is safe. It exits when its parent
# closes the pipe (the parent exits) or after FORKER_IDLE seconds without a request; before
# its first request it waits up to FORKER_FIRST seconds, for a command that starts it ahead
# (trust.start_probe) and trains for minutes before its gate asks.
FORKER_IDLE = 60
FORKER_FIRST = 600
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Arrow's own allocator reserves address space ahead, which a capped child cannot give it.
FORKER_ENV = {**ONE_THREAD, "ARROW_DEFAULT_MEMORY_POOL": "system"}
_forker = {"process": None, "preload": ()}
_forking = threading.Lock()


def start_forker(preload):
    """Start the forking process (importing ``preload``) if it is not running; returns at
    once, so its imports overlap the caller's work."""
    import atexit
    import sys

    with _forking:
        process = _forker["process"]
        if process is not None and process.poll() is None:
            return
        package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, **FORKER_ENV)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package, env.get("PYTHONPATH")) if p)
        _forker["process"] = subprocess.Popen(
            [sys.executable, "-c", "import sys; from trackfit import processes; "
             "processes.forker(sys.argv[1:])", *preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        _forker["preload"] = tuple(preload)
        if not _forker.get("atexit"):
            atexit.register(stop_forker)
            _forker["atexit"] = True


def forked(target, args, timeout, memory, preload=()):
    """``target(args)`` (a "module:function" returning (exit code, message)) run in a child
    forked from the forking process, given ``timeout`` seconds and ``memory`` bytes of
    address space beyond what the forking process has mapped. Returns (status, message):
    status is the child's exit code, or minus the signal that ended it (SIGALRM: out of
    time). OSError when no forking process answers."""
    import json

    request = json.dumps({"target": target, "args": args, "timeout": int(timeout) + 1,
                          "memory": int(memory)}).encode() + b"\n"
    for _ in range(2):  # it may have just left after FORKER_IDLE: once more, anew
        start_forker(preload or _forker["preload"])
        with _forking:
            process = _forker["process"]
            try:
                process.stdin.write(request)
                process.stdin.flush()
                line = _answer(process, timeout + 60)  # its imports, then the child's time
            except OSError:
                line = b""
            if line:
                answer = json.loads(line)
                return answer["status"], answer["message"]
            _stop_forker(process)
    raise OSError("the forking process stopped without an answer")


def _answer(process, timeout):
    import select

    ready, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline() if ready else b""


def stop_forker():
    """Stop the forking process, if one runs (at exit: it would leave by itself)."""
    with _forking:
        if _forker["process"] is not None:
            _stop_forker(_forker["process"])
            _forker["process"] = None


def _stop_forker(process):
    for pipe in (process.stdin, process.stdout):
        with contextlib.suppress(OSError):
            pipe.close()
    with contextlib.suppress(OSError):
        process.kill()
    process.wait()


def forker(preload):
    """The forking process's loop: import ``preload``, then answer requests until the pipe
    closes or FORKER_IDLE seconds pass without one (FORKER_FIRST before the first)."""
    import importlib
    import json
    import select
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    for name in preload:  # ahead of time, once; one missing here is the child's to import
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    idle = FORKER_FIRST
    while select.select([requests], [], [], idle)[0]:
        line = requests.readline()
        if not line:
            return
        status, message = _fork(json.loads(line))
        answers.write(json.dumps({"status": status, "message": message}).encode() + b"\n")
        answers.flush()
        idle = FORKER_IDLE


def _fork(request):
    """One request in a forked child; its (status, message)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: limits first, then the target; it never returns
        os.close(read_end)
        code, message = 70, ""
        try:
            _child_limits(request)
            code, message = _call(request["target"], request["args"])
        except BaseException as exc:  # noqa: BLE001 - reported to the parent as a line
            message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        finally:
            with contextlib.suppress(BaseException):
                os.write(write_end, message.encode()[:4000])
            os._exit(code)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode(errors="replace")
    return os.waitstatus_to_exitcode(status), message


def _child_limits(request):
    """The child's address space capped at what is mapped now plus ``memory``, its time at
    ``timeout`` seconds (SIGALRM ends it), what it prints sent nowhere."""
    import resource

    try:  # Linux says what is mapped; elsewhere the time limit alone applies
        with open("/proc/self/statm", encoding="ascii") as handle:
            mapped = int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        mapped = None
    if mapped is not None:
        cap = mapped + request["memory"]
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(request["timeout"])
    nowhere = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(nowhere, fd)


def _call(target, args):
    import importlib

    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)(args)
