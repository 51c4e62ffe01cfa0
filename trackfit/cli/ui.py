"""`make ui`: the MLflow UI on trackfit's store, opened on the experiment's training runs.

MLflow's UI opens on the experiments list, or on a GenAI overview of traces, where the lab
has nothing; this prints the address of the experiment's training runs, best first, and
opens a browser there when the machine has one.

    python -m trackfit.cli.ui [--port 5000] [--workers 1] [--no-browser]

One worker and no background job runner, as the team server (scripts/server.sh) has: with
MLflow's defaults (four workers, a job runner) the UI of the lab's store was 15 processes,
3.1 GB of resident memory and 22 s of CPU six seconds after it answered; with these, 2
processes, 0.5 GB and 4 s. MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true brings the job runner back.
"""

import argparse
import os
import sys
import time
import urllib.parse
from pathlib import Path

from .. import processes
from ..tracking import tags
from ..tracking.experiment import EXPERIMENT
from ..tracking.runs import DEFAULT_METRIC

DEFAULT_STORE = "sqlite:///mlflow.db"
TRAIN_FILTER = f"tags.`{tags.STEP}` = 'train'"


def runs_address(base, experiment_id, metric=DEFAULT_METRIC):
    """The UI's page of an experiment's training runs, best first by ``metric``.

    The filter shows the training runs themselves, not folded under their ``main`` run.
    """
    query = urllib.parse.urlencode({
        "searchFilter": TRAIN_FILTER,
        "orderByKey": f"metrics.`{metric}`",
        "orderByAsc": "false",
    }, quote_via=urllib.parse.quote)
    return f"{base}/#/experiments/{experiment_id}/runs?{query}"


def report_address(base, experiment_id, run_id):
    """The UI's view of a compare run's report.html."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}/artifacts/report.html"


def addresses(base, store, experiment):
    """Where to look: the experiment's training runs (or the experiment list while there is
    no such experiment), and the latest compare run's report.html when there is one."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return f"{base}/#/experiments", None
    latest = client.search_runs([found.experiment_id], f"tags.`{tags.STEP}` = 'compare'",
                                order_by=["attributes.start_time DESC"], max_results=1)
    report = report_address(base, found.experiment_id, latest[0].info.run_id) if latest else None
    return runs_address(base, found.experiment_id), report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m trackfit.cli.ui", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (1)")
    parser.add_argument("--no-browser", action="store_true", help="only print the address")
    args = parser.parse_args(argv)
    store = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_STORE
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
    base = f"http://{args.host}:{args.port}"
    where, report = addresses(base, store, experiment)
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow), "ui", "--backend-store-uri", store,
               "--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
    # trackfit runs no server-side (GenAI) jobs
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    print(f"ui: starting the MLflow UI on {store} at {base} (Ctrl-C stops it)", flush=True)
    try:
        with processes.group(command, env=env) as server:  # TERM/HUP stop its workers too
            up = wait_until_up(base, server, progress=progress)
            if server.poll() is not None:
                return server.returncode
            if not up:
                print(f"ui: {base} has not answered yet; the addresses below work once it "
                      "does", flush=True)
            print(f"Training runs of experiment '{experiment}': {where}", flush=True)
            if report:
                print(f"The leaderboard and charts of the latest compare run: {report}",
                      flush=True)
            if up and not args.no_browser and has_display():
                import webbrowser

                webbrowser.open(where)
            return server.wait()
    except KeyboardInterrupt:
        return 0
    except processes.Stopped as stopped:
        return stopped.exit_code


def has_display():
    """Whether a graphical browser can open (never a text browser in this terminal)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def progress(base, waited):
    print(f"ui: waiting for the MLflow UI to answer at {base}/health ({waited:.0f} s; the "
          "first start takes up to a minute)", flush=True)


def wait_until_up(base, server, timeout=180, progress=None, every=10):
    """True once ``base``'s health endpoint answers; False if the server exits or does not
    answer in time. ``progress(base, seconds)`` is called every ``every`` seconds meanwhile."""
    import urllib.request

    start = time.monotonic()
    said = 0
    while time.monotonic() - start < timeout and server.poll() is None:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)
            return True
        except OSError:
            time.sleep(0.5)
        waited = time.monotonic() - start
        if progress and waited >= said + every:
            said = waited
            progress(base, waited)
    return False


if __name__ == "__main__":
    sys.exit(main())
