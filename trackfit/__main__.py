"""python -m trackfit <step>: the command line behind every MLproject entry point."""

import argparse
import json
import sys

from . import TrackfitError, __version__


def _option(parser, name, **kwargs):
    """``--test-size`` and ``--test_size`` both, so the CLI takes MLproject's words."""
    flags = {f"--{name.replace('_', '-')}", f"--{name}"}
    parser.add_argument(*sorted(flags), dest=name, **kwargs)


def whole(text):
    """An int, also from MLproject's float-typed '5.0'."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value.is_integer():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(value)


def _data(parser, default="diabetes"):
    _option(parser, "data", default=default,
            help="'diabetes' (the embedded copy), a parquet/CSV path, an http(s), runs:/ "
                 "or fsspec URL (default: %(default)s)")


def _split(parser):
    _option(parser, "test_size", type=float, default=0.3, help="held-out share (default: 0.3)")
    _option(parser, "random_state", type=whole, default=0, help="split and estimator seed (0)")
    _option(parser, "cv", type=whole, default=5, help="folds on the training split; 0 = off (5)")


def _ranking(parser):
    _option(parser, "metric", default="test_r2_score",
            help="metric to rank by (default: test_r2_score, held-out)")


def _registry(parser):
    _option(parser, "model_name", default="model-diabetes", help="registered model name")
    _option(parser, "alias", default="champion", help="alias set on the best version")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m trackfit",
        description="Train, track, compare and register regression models with MLflow.",
    )
    parser.add_argument("--version", action="version", version=f"trackfit {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="show the full traceback on errors")
    parser.add_argument("--experiment-name", "--experiment_name", dest="experiment_name",
                        help="MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, or the "
                             "one `mlflow run` chose)")
    parser.add_argument("--trust-model", "--trust_model", dest="trust_model",
                        action="store_true",
                        help="load models trackfit cannot vouch for (pickles, unknown flavors); "
                             "only for a store you control (also TRACKFIT_TRUST_MODELS=1)")
    steps = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = steps.add_parser("load", help="read, validate and log a data source")
    _data(p)
    p = steps.add_parser("train", help="train one estimator and log the run")
    _option(p, "estimator", default="linear", help="estimator name or plugin:name (linear)")
    _option(p, "params", default="", help="hyperparameters, name=value,name=value")
    _data(p)
    _split(p)
    p = steps.add_parser("compare", help="leaderboard and charts of the training runs")
    _ranking(p)
    _option(p, "max_results", type=whole, default=100,
            help="leaderboard rows: the best N of all training runs (100)")
    p = steps.add_parser("register", help="register the best training run's model")
    _ranking(p)
    _registry(p)
    p = steps.add_parser("predict", help="predict with a registered model")
    _data(p)
    _option(p, "model", default="models:/model-diabetes@champion", help="model URI")
    _option(p, "output", default="", help=".parquet or .csv file (default: print CSV)")
    p = steps.add_parser("main", help="the whole lab: load, train each, compare, register")
    _option(p, "estimators", default="linear,tree", help="comma-separated (linear,tree)")
    _data(p)
    _split(p)
    _ranking(p)
    _registry(p)
    p = steps.add_parser("rerun", help="train a finished training run again, compare metrics")
    p.add_argument("run_id", help="the id of a finished training run")
    p.add_argument("--force", action="store_true",
                   help="rerun even if the code changed since (other commit, local changes)")
    for name, text in (("estimators", "list the estimators the plugins provide"),
                       ("plugins", "list the plugins found, loaded or failed")):
        p = steps.add_parser(name, help=text)
        p.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def list_estimators(as_json):
    from .plugins import registry

    specs = registry().specs
    rows = [{"name": s.name, "plugin": s.plugin, "version": s.plugin_version,
             "distribution": s.distribution, "description": s.description,
             "defaults": s.defaults, "flavor": s.flavor} for s in specs]
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    names = [s.name for s in specs]
    for row in rows:
        shown = row["name"] if names.count(row["name"]) == 1 else f"{row['plugin']}:{row['name']}"
        defaults = ",".join(f"{k}={v}" for k, v in row["defaults"].items())
        print(f"{shown:<14} {row['plugin']:<14} {row['description']}"
              + (f"  [{defaults}]" if defaults else ""))
    _report_failures()


def list_plugins(as_json):
    from .plugins import registry

    plugins = registry().plugins
    if as_json:
        print(json.dumps([p.__dict__ for p in plugins], indent=2))
        return
    for p in plugins:
        state = f"error: {p.error}" if p.error else ", ".join(p.estimators)
        print(f"{p.name:<16} {p.version or '-':<8} {p.source}\n{'':<16} {state}")


def _report_failures():
    from .plugins import registry

    for p in registry().plugins:
        if p.error:
            print(f"trackfit: plugin '{p.name}' skipped: {p.error}", file=sys.stderr)


def dispatch(args):
    options = {k: v for k, v in vars(args).items()
               if k not in ("command", "traceback", "experiment_name", "json", "trust_model")}
    if args.command == "estimators":
        return list_estimators(args.json)
    if args.command == "plugins":
        return list_plugins(args.json)
    if args.command == "rerun":
        from .rerun import rerun

        return rerun(**options)
    import importlib

    from . import store

    store.prepare(args.experiment_name)
    module = importlib.import_module(f".entrypoints.{args.command}", __package__)
    getattr(module, args.command)(**options)


def main(argv=None):
    args = build_parser().parse_args(argv)
    from . import store, trust

    trust.guard(args.trust_model)
    try:
        dispatch(args)
    except TrackfitError as exc:
        if args.traceback:
            raise
        print(store.scrub(f"trackfit: error: {exc}"), file=sys.stderr)
        return 1
    except Exception as exc:
        if args.traceback:
            raise
        if store.explain(exc):
            print(store.scrub(f"trackfit: error: {store.explain(exc)}"), file=sys.stderr)
            return 1
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(store.scrub(f"trackfit: error: {type(exc).__name__}: {text} "
                          "(run again with --traceback for the details)"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
