"""The command line behind ``trackfit`` and ``python -m trackfit``.

An explicit table of commands: each names the function it calls and its options. Strings
become typed values here and only here (a params dict, a list of names, whole numbers); a
default lives in the function's signature, and the CLI shows and uses that one.
"""

import argparse
import contextlib
import importlib
import inspect
import json
import os
import sys
from dataclasses import dataclass

from .. import StoreError, TrackfitError, UsageError, __version__, first_line, quote


def whole(text):
    """An int, also from MLproject's float-typed '5.0'."""
    value = float(text)
    if not value.is_integer():
        raise ValueError(f"{quote(text)} is not a whole number")
    return int(value)


def number(text):
    return float(text)


def optional_number(text):
    """A float, or None for '' (not given)."""
    return float(text) if text.strip() else None


def truth(text):
    """'true'/'false' (also 1/0, yes/no), as MLproject passes a switch."""
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"{text!r} is not true or false")


def names(text):
    """'linear, tree' -> ['linear', 'tree']."""
    return [name.strip() for name in text.split(",") if name.strip()]


def params(text):
    """'max_depth=3,criterion=poisson' -> {'max_depth': 3, 'criterion': 'poisson'}."""
    from ..estimators.hyperparams import parse

    return parse(text)


def convert(option, value):
    """The typed value of an option given as a string on the command line."""
    if not isinstance(value, str) or option.type is str:
        return value
    try:
        return option.type(value)
    except ValueError:
        kind = {whole: "a whole number", truth: "true or false"}.get(option.type, "a number")
        raise UsageError(f"{option.name} must be {kind}, got {quote(value)}") from None


@dataclass(frozen=True)
class Option:
    """One option of a command: ``--name`` (also ``--name-with-dashes``), converted by ``type``.

    ``type=bool`` is a flag; ``positional`` an argument without a dash.
    """

    name: str
    type: object = str
    help: str = ""
    positional: bool = False


@dataclass(frozen=True)
class Command:
    """A command: the function it calls (``module:function``), its help and options.

    ``store``: open the tracking store and set the experiment before calling.
    ``models``: it saves or loads models, so skops is imported first (``skops_first``).
    ``probes``: it checks a model through the probe (register's gate), so the probe's
    process starts first (``trust.start_probe``): its imports overlap the command's own.
    """

    function: str
    help: str
    options: tuple = ()
    store: bool = True
    models: bool = False
    probes: bool = False

    def load(self):
        module, name = self.function.split(":")
        return getattr(importlib.import_module(module), name)


DATA = Option("data", help="'diabetes' (the embedded copy), a parquet/CSV path, an http(s), "
                           "runs:/ or fsspec URL")
TABLE = (
    Option("target", help="the column to predict (default: the dataset's own, Y for diabetes)"),
    Option("features", names, "comma-separated columns to learn from (default: every other "
                              "column but keys)"),
    Option("ignore", names, "comma-separated columns to leave out"),
    Option("categorical", names, "comma-separated columns to treat as categories"),
    Option("missing", help="impute (inside the model) or refuse missing values"),
)
TEST_SIZE = Option("test_size", number, "held-out share")
RANDOM_STATE = Option("random_state", whole, "split and estimator seed")
CV = Option("cv", whole, "folds on the training split; 0 = off")
METRIC = Option("metric", help="metric to rank by (held-out by default)")
MODEL_NAME = Option("model_name", help="registered model name")
ALIAS = Option("alias", help="alias set on the best version")
JSON = Option("json", bool, "machine-readable output")
SPARK = Option("spark", help="Spark master (local[2], spark://host:7077, yarn) to read and score "
                             "with Spark; an active session is used as is; empty: pandas")

COMMANDS = {
    "main": Command(
        "trackfit.entrypoints.main:main",
        "the whole lab, or any table with --target: load, train each estimator, compare, register",
        (Option("estimators", names, "comma-separated estimator names, or all: every "
                                     "installed one"),
         DATA, *TABLE, TEST_SIZE, RANDOM_STATE, CV, METRIC, MODEL_NAME, ALIAS,
         Option("n_jobs", whole, "estimators trained at once, each on one thread; 0: one per "
                                  "core this process may use, 1: one after the other"), SPARK,
         Option("refit", help="all: every estimator fitted whole and logged as a model; "
                              "best: every one cross-validated, only the best by CV fitted "
                              "whole and logged")),
        models=True, probes=True),
    "load": Command(
        "trackfit.entrypoints.load:load", "read, validate and log a data source",
        (DATA, *TABLE, SPARK)),
    "train": Command(
        "trackfit.entrypoints.train:train", "train one estimator and log the run",
        (Option("estimator", help="estimator name or plugin:name"),
         Option("params", params, "hyperparameters, name=value,name=value"),
         DATA, *TABLE, TEST_SIZE, RANDOM_STATE, CV, SPARK),
        models=True),
    "tune": Command(
        "trackfit.entrypoints.tune:tune",
        "search an estimator's hyperparameters, refit the best as a training run",
        (Option("estimator", help="estimator name or plugin:name"),
         Option("space", help="name=range,...: uniform(a,b), loguniform(a,b), int(a,b), "
                              "logint(a,b) or choices a|b|c; none: the estimator's own"),
         Option("trials", whole, "trials to run"),
         Option("search", help="tpe, random or grid"),
         Option("n_jobs", whole, "trials at once, each on one thread; 0: one per core this "
                                  "process may use"),
         Option("trials_on", help="a Spark master to run the trials on, e.g. local[2] "
                                  "(empty: worker processes here)"),
         DATA, *TABLE, TEST_SIZE, RANDOM_STATE, CV,
         Option("metric", help="the CV metric the search optimises"), SPARK),
        models=True),
    "compare": Command(
        "trackfit.entrypoints.compare:compare", "leaderboard and charts of the training runs",
        (METRIC, Option("max_results", whole, "leaderboard rows: the best N of all runs"),
         Option("max_latency_ms", optional_number, "only models that predict 1,000 rows "
                                                   "within this many ms (empty: all)"))),
    "register": Command(
        "trackfit.entrypoints.register:register",
        "register the best training run's model if it passes the promotion gate",
        (METRIC, MODEL_NAME, ALIAS,
         Option("threshold", optional_number, "the metric's floor (a ceiling for a "
                                              "lower-is-better metric); empty: none"),
         Option("min_improvement", number, "required gain over the champion, absolute "
                                           "(0: any gain)"),
         Option("min_relative_improvement", number, "required gain over the champion as a "
                                                    "share of its value, 0..1"),
         Option("strict", truth, "a refused challenger is an error (exit 1), for CI"),
         Option("exam", help="data to pin as the model's exam when none is pinned (empty: "
                             "the pinned one)")),
        models=True, probes=True),
    "predict": Command(
        "trackfit.entrypoints.predict:predict", "predict with a registered model",
        (DATA, Option("model", help="model URI"),
         Option("output", help=".parquet or .csv file, with spark a folder (empty: print "
                               "CSV)"), SPARK),
        models=True),
    "serve": Command(
        "trackfit.entrypoints.serve:serve", "serve a registered model over HTTP on loopback",
        (Option("model", help="model URI"), Option("host", help="loopback address"),
         Option("port", whole, "port")),
        store=False, models=True),
    "rerun": Command(
        "trackfit.cli.rerun:rerun", "train a finished training run again, compare metrics",
        (Option("run_id", help="the id of a finished training run", positional=True),
         Option("force", bool, "rerun even if the code changed since (other commit, local "
                               "changes)")),
        store=False, models=True),
    "webhook": Command(
        "trackfit.cli.webhooks:webhook",
        "the tracking server's registry webhooks: add URL, list, test ID, remove ID",
        (Option("action", help="add, list, test or remove", positional=True),
         Option("target", help="the URL to add, or the webhook id to test or remove",
                positional=True),
         Option("events", help="comma-separated: alias (the champion moved), version, model, "
                               "or MLflow's entity.action"),
         Option("secret_file", help="a file holding the secret that signs each event (add)"),
         Option("name", help="the webhook's name; empty: trackfit-<host>")),
        store=False),
    "exam": Command(
        "trackfit.cli.exam:exam",
        "the registered model's exam, the rows the gate scores on: show, or set DATA",
        (Option("action", help="show or set", positional=True),
         Option("data", help="set: the data to pin, as data= takes it", positional=True),
         MODEL_NAME)),
    "estimators": Command(
        "trackfit.cli:list_estimators", "list the estimators the plugins provide", (JSON,),
        store=False),
    "datasets": Command(
        "trackfit.cli:list_datasets", "list the named datasets the plugins provide (data=NAME)",
        (JSON,), store=False),
    "plugins": Command(
        "trackfit.cli:list_plugins", "list the plugins found, loaded or failed", (JSON,),
        store=False),
}


def shown(default):
    """A signature default as the command line writes it: ('linear', 'tree') -> 'linear,tree'."""
    if default is None:
        return ""
    if isinstance(default, (list, tuple)):
        return ",".join(map(str, default))
    if isinstance(default, dict):
        return ",".join(f"{k}={v}" for k, v in default.items())
    return str(default)


def defaults(command):
    """{option name: default} from the signature of the command's function."""
    signature = inspect.signature(command.load())
    return {name: p.default for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty}


def _add(parser, option, default):
    if option.positional:
        if default is None:
            parser.add_argument(option.name, help=option.help)
        else:
            parser.add_argument(option.name, nargs="?", default=default, help=option.help)
        return
    flags = sorted({f"--{option.name.replace('_', '-')}", f"--{option.name}"})
    if option.type is bool:
        parser.add_argument(*flags, dest=option.name, action="store_true", help=option.help)
        return
    parser.add_argument(*flags, dest=option.name, default=default,
                        help=f"{option.help} (default: {shown(default) or 'none'})")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="trackfit",
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
    for name, command in COMMANDS.items():
        sub = steps.add_parser(name, help=command.help, description=command.help)
        known = defaults(command)
        for option in command.options:
            _add(sub, option, known.get(option.name))
    return parser


def skops_first():
    """Import skops.io before MLflow. At import it names every scipy and numpy ufunc it trusts
    by looking for it in each module imported so far (``skops.io._utils.whichmodule``): 1,900
    modules before MLflow, 3,000 after, and 0.6 s less for each command that saves or loads a
    model. The names are the same either way (tests/test_trust.py checks)."""
    import skops.io  # noqa: F401


def run(args):
    """Call the command ``args`` names with its options, as typed values."""
    command = COMMANDS[args.command]
    values = {o.name: convert(o, getattr(args, o.name)) for o in command.options}
    if command.probes:
        from .. import trust

        trust.start_probe()
    if command.models:
        skops_first()
    in_default = False
    table = table_of(values)
    given_run = os.environ.get("MLFLOW_RUN_ID")  # mlflow run's; gone once the step ends it
    if command.store:
        from ..tracking import experiment, store

        default = experiment.for_table(table) if table else None
        in_default = store.prepare(args.experiment_name, default)
    result = command.load()(**values)
    if in_default:  # on stderr: stdout may be data (predict's CSV)
        sys.stdout.flush()
        print(experiment.note(args.command), file=sys.stderr)
    elif command.store and table and given_run:
        line = experiment.elsewhere(args.command, given_run, table)
        if line:
            sys.stdout.flush()
            print(line, file=sys.stderr)
    return result


def table_of(values):
    """The name of the table a command's options name (penguins for --data penguins.csv
    --target body_mass_g; diabetes for the lab), or None for a command without one."""
    if "data" not in values or "target" not in values:
        return None
    from ..engines.source import parse
    from ..engines.source import Ask

    ask = Ask(values["target"], tuple(values["features"]), tuple(values["ignore"]),
              tuple(values["categorical"]), values["missing"])
    return parse(values["data"], ask).table_name


def list_estimators(json=False):
    from ..estimators import space
    from ..estimators.plugins import catalogue

    specs = catalogue().specs
    rows = [{"name": s.name, "plugin": s.plugin, "version": s.plugin_version,
             "distribution": s.distribution, "description": s.description,
             "defaults": s.defaults, "flavor": s.flavor,
             "search_space": space.to_text(s.search_space)} for s in specs]
    if json:
        _print_json(rows)
        return
    all_names = [s.name for s in specs]
    for row in rows:
        unique = all_names.count(row["name"]) == 1
        shown_name = row["name"] if unique else f"{row['plugin']}:{row['name']}"
        listed = ",".join(f"{k}={v}" for k, v in row["defaults"].items())
        print(f"{shown_name:<14} {row['plugin']:<14} {row['description']}"
              + (f"  [{listed}]" if listed else ""))
    for plugin in catalogue().plugins:
        if plugin.error:
            print(f"trackfit: plugin '{plugin.name}' skipped: {plugin.error}", file=sys.stderr)


def list_datasets(json=False):
    from ..estimators.plugins import catalogue

    found = catalogue().datasets
    if json:
        _print_json([{"name": d.name, "plugin": d.plugin, "target": d.target,
                      "description": d.description, "loader": str(d.loader)} for d in found])
        return
    for d in found:
        print(f"{d.name:<14} {d.plugin:<14} target {d.target:<10} {d.description}")


def list_plugins(json=False):
    from ..estimators.plugins import catalogue

    found = catalogue().plugins
    if json:
        _print_json([p.__dict__ for p in found])
        return
    for p in found:
        state = f"error: {p.error}" if p.error else ", ".join(p.estimators)
        print(f"{p.name:<16} {p.version or '-':<8} {p.source}\n{'':<16} {state}")


def _print_json(rows):
    print(json.dumps(rows, indent=2, default=str))


PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


@contextlib.contextmanager
def no_download_bars():
    """MLflow's "Downloading artifacts" bars off for the block, unless the user set them.

    compare reads every training run's evaluation.json, predict and serve fetch a model:
    a bar each on stderr, none of them anything to act on. The environment is restored
    afterwards (the command line may run inside a test or a notebook's process).
    """
    if PROGRESS_BAR in os.environ:
        yield
        return
    os.environ[PROGRESS_BAR] = "false"
    try:
        yield
    finally:
        os.environ.pop(PROGRESS_BAR, None)


def script():
    """``trackfit`` and ``python -m trackfit``: ``main``, then exit with its code.

    Python's exit runs full garbage collections over every object the command made (MLflow,
    scikit-learn and their thousands of modules), about a second of CPU: frozen first, they
    are skipped. The atexit handlers run and the modules are torn down as before (the store
    closes its own connections at exit: store.at_exit).
    """
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv=None):
    """The command line: exit code 0, or the error's code with one line on stderr (2 bad
    input, 3 a refused model, 4 a store or server failure, 5 a gate refusal, 1 anything else:
    trackfit.errors), 130 on Ctrl-C, 143 on SIGTERM, 129 on SIGHUP (the step run ends KILLED).

    Runs with MLflow's deserialisation guard on unless --trust-model (trust.guarded); the
    tracking password never reaches stderr (store.scrub).
    """
    from .. import engines, processes, trust
    from ..tracking import store

    args = build_parser().parse_args(argv)
    quiet = contextlib.nullcontext() if args.traceback else store.quiet_database_errors()
    with trust.guarded(args.trust_model), no_download_bars(), processes.stoppable(), quiet:
        try:
            run(args)
        except TrackfitError as exc:
            if args.traceback:
                raise
            print(store.scrub(f"trackfit: error: {exc}{engines.note()}"), file=sys.stderr)
            return exc.code
        except KeyboardInterrupt:
            print("trackfit: interrupted", file=sys.stderr)
            return 130
        except processes.Stopped as stopped:
            print(f"trackfit: {stopped}", file=sys.stderr)
            return stopped.exit_code
        except Exception as exc:
            if args.traceback:
                raise
            explained = store.explain(exc)
            if explained:
                print(store.scrub(f"trackfit: error: {explained}{engines.note()}"), file=sys.stderr)
                return StoreError.code
            text = first_line(exc, default="")
            print(store.scrub(f"trackfit: error: {type(exc).__name__}: {text} "
                              f"(run again with --traceback for the details){engines.note()}"),
                  file=sys.stderr)
            return 1
    return 0
