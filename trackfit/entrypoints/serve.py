"""serve: a registered model over HTTP on loopback, with MLflow's scoring server."""

import json
import os
import shlex
import sys

from .. import ServerError, UsageError, processes, trust
from ..engines.predicting import model_info
from ..tracking.registry import DEFAULT_MODEL

EXAMPLE = "serving_input_example.json"


def input_example(model):
    """The model's logged input example as MLflow's server takes it, or None."""
    import mlflow

    try:
        path = mlflow.artifacts.download_artifacts(f"{model.rstrip('/')}/{EXAMPLE}")
    except Exception:  # noqa: BLE001 - a model logged without an input example
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON: serve shows none
        return None


def curl(example, host, port):
    """The curl command that posts ``example`` to the server, safe to paste into a shell.

    The example is the model's, written by whoever logged it: quoted for the shell, so a
    ``'`` in it stays data.
    """
    body = json.dumps(example, separators=(",", ":"))
    return (f"curl -s http://{host}:{port}/invocations -H 'Content-Type: application/json' "
            f"-d {shlex.quote(body)}")


def serve(model=DEFAULT_MODEL, host="127.0.0.1", port=5001):
    """Serve ``model`` with ``mlflow models serve --env-manager local`` until stopped.

    MLflow starts uvicorn from PATH, so the directory of
    this interpreter (the venv's bin) goes first on it.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise UsageError(f"host '{host}' is not loopback", fix="serve only listens on 127.0.0.1")
    model_info(model)  # a clear error for a model that is not there
    # The same checks as predict, and the model loaded and validated here once; the server
    # gets the folder trackfit rebuilt (loaded through trackfit.trust, MLflow's guard on).
    with trust.checked(model) as checked:
        example = input_example(checked)  # from the copy the check fetched: no second download
        if example:
            print(f"serve: try it with\n  {curl(example, host, port)}", flush=True)
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        env[trust.GUARD_ENV] = "true" if checked == model else "false"  # true: --trust-model
        command = [os.path.join(os.path.dirname(sys.executable), "mlflow"), "models", "serve",
                   "-m", checked, "--env-manager", "local", "-h", host, "-p", str(port)]
        print(f"serve: {model} on http://{host}:{port}/invocations (Ctrl-C stops it)",
              flush=True)
        try:
            with processes.group(command, env=env) as server:  # TERM/HUP stop its uvicorn too
                code = server.wait()
        except KeyboardInterrupt:
            return
        except processes.Stopped as stopped:
            raise SystemExit(stopped.exit_code) from None
    if code not in (0, -2, -15, 130, 143):  # stopped by Ctrl-C or a TERM signal
        raise ServerError(f"mlflow models serve stopped with exit code {code}", fix="see above")
