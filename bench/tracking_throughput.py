"""Training runs per second with 1, 4 and 8 concurrent trainers: tracking server vs SQLite.

    python bench/tracking_throughput.py [--server http://127.0.0.1:5005] [--runs 3]

Each trainer is a process that imports trackfit, loads the data, waits for the others, then
trains ``--runs`` LinearRegression runs in a row (cv off, so the tracking store, not the fit,
is what is measured). The clock runs from the moment all trainers start to the last run's end.
SQLite: a fresh ``mlflow.db`` per row. Server: ``--server`` or TRACKFIT_SERVER_URI, a fresh
experiment per row; MLFLOW_TRACKING_USERNAME/PASSWORD for a server with basic auth.
"""

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def trainer(uri, experiment, runs, barrier, results):
    os.environ["MLFLOW_TRACKING_URI"] = uri
    sys.path.insert(0, str(PROJECT))
    sys.stdout = open(os.devnull, "w")
    import logging

    from trackfit.engines import pandas as data
    from trackfit.engines.source import parse
    from trackfit.tracking import store
    from trackfit.engines.pandas import PandasEngine
    from trackfit.entrypoints.train import step
    from trackfit.fitting.split import Split

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no per-run chatter in the table

    store.prepare(experiment)
    frame = data.load(parse("diabetes"))
    barrier.wait()
    for _ in range(runs):
        step("linear", {}, parse("diabetes"), Split(cv=0), PandasEngine(), loaded=(frame, data.dataset(frame, parse("diabetes"))))
    results.put(time.monotonic())


def finished_runs(uri, experiment):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    return len(client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'",
                                  max_results=1000))


def measure(uri, trainers, runs):
    """Runs per second of ``trainers`` processes training ``runs`` runs each against ``uri``."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(trainers + 1), context.Queue()
    experiment = f"bench-{uuid.uuid4().hex[:8]}"
    processes = [context.Process(target=trainer, args=(uri, experiment, runs, barrier, results))
                 for _ in range(trainers)]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.monotonic()
    ended = max(results.get(timeout=1800) for _ in processes)
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a trainer failed against {uri} (exit {process.exitcode})")
    recorded = finished_runs(uri, experiment)
    if recorded != trainers * runs:
        raise SystemExit(f"{uri} holds {recorded} finished runs, not {trainers * runs}")
    return trainers * runs / (ended - started), ended - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=os.environ.get("TRACKFIT_SERVER_URI"),
                        help="tracking server URI (default: TRACKFIT_SERVER_URI)")
    parser.add_argument("--runs", type=int, default=3, help="runs per trainer (3)")
    parser.add_argument("--trainers", default="1,4,8", help="concurrent trainers (1,4,8)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.trainers.split(",")]
    stores = [("sqlite", None)] + ([("server", args.server)] if args.server else [])
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"{args.runs} runs per trainer")
    print(f"{'store':<8} {'trainers':>8} {'runs':>5} {'seconds':>8} {'runs/s':>7}")
    for name, uri in stores:
        for count in counts:
            with tempfile.TemporaryDirectory() as folder:
                target = uri or f"sqlite:///{folder}/mlflow.db"
                rate, seconds = measure(target, count, args.runs)
            print(f"{name:<8} {count:>8} {count * args.runs:>5} {seconds:>8.1f} {rate:>7.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
