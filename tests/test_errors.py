"""Bad input: one clear line, non-zero exit, the run FAILED, nothing half-written."""

import pandas as pd
import pytest

from trackfit import InputError, ModelRefused
from trackfit.entrypoints.register import register
from trackfit.entrypoints.train import train

from .conftest import runs, versions


def lab_frame():
    from trackfit.engines import pandas as data
    from trackfit.engines.source import parse

    return data.load(parse("diabetes"))


def write_csv(path, frame):
    frame.to_csv(path, index=False)
    return str(path)


def assert_one_line_error(result, *phrases, code=InputError.code):
    """One ``trackfit: error:`` line holding ``phrases``; the exit code of its kind."""
    assert result.returncode == code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("trackfit: error:")]
    assert len(errors) == 1, result.stderr
    for phrase in phrases:
        assert phrase in errors[0]
    return errors[0]


def assert_failed_run(uri, step):
    assert len(runs(uri, step, "FAILED")) == 1
    assert not runs(uri, step, "FINISHED")


def bad_inputs(tmp_path):
    frame = lab_frame()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all")
    text = frame.astype(object)
    text.loc[3, "BMI"] = "thirty"
    holes = frame.copy()
    holes.loc[[1, 7], "S5"] = None
    return {
        "missing file": (str(tmp_path / "nope.csv"), ["data file not found", "nope.csv"]),
        "empty file": (str(empty), ["is empty"]),
        "corrupt parquet": (str(corrupt), ["not a readable parquet file"]),
        "missing column": (write_csv(tmp_path / "nobmi.csv", frame.drop(columns="BMI")),
                           ["lacks column(s) BMI", "it needs AGE"]),
        "non-numeric column": (write_csv(tmp_path / "text.csv", text),
                               ["column BMI is not numeric", "'thirty'"]),
        "missing values": (write_csv(tmp_path / "holes.csv", holes),
                           ["missing values in 2 row(s)", "S5: 2", "fill or drop",
                            "pass target=Y to impute them inside the model"]),
    }


@pytest.mark.parametrize("case", ["missing file", "empty file", "corrupt parquet",
                                  "missing column", "non-numeric column", "missing values"])
def test_bad_data_fails_train_with_one_line(run_cli, store, tmp_path, case):
    path, phrases = bad_inputs(tmp_path)[case]
    result = run_cli("train", "--estimator", "linear", "--data", path)
    assert_one_line_error(result, *phrases)
    assert_failed_run(store, "train")


@pytest.mark.parametrize("params, phrases", [
    ("max_dept=3", ["no hyperparameter 'max_dept'", "did you mean max_depth?"]),
    ("max_depth=-3", ["rejected max_depth=-3", "must be an int in the range [1, inf)"]),
    ("random_state=4", ["pass random_state=4 as its own parameter"]),
])
def test_bad_hyperparameters_fail_before_a_model_is_logged(run_cli, store, params, phrases):
    result = run_cli("train", "--estimator", "tree", "--params", params)
    assert_one_line_error(result, *phrases)
    assert_failed_run(store, "train")


def test_unreadable_params_fail_at_the_command_line_before_any_run(run_cli, store):
    result = run_cli("train", "--estimator", "tree", "--params", "max_depth")
    assert_one_line_error(result, "cannot read params 'max_depth'", "write name=value pairs")
    assert not runs(store)


def test_unknown_estimator_names_close_matches_and_how_to_list(run_cli, store):
    result = run_cli("train", "--estimator", "tre")
    assert_one_line_error(result, "unknown estimator 'tre'", "'tree'",
                          "python -m trackfit estimators")
    assert_failed_run(store, "train")


def test_main_with_an_unknown_estimator_trains_nothing(run_cli, store):
    result = run_cli("main", "--estimators", "linear,forrest")
    assert_one_line_error(result, "unknown estimator 'forrest'", "'forest'")
    assert not runs(store, "train") and not runs(store, "load")
    assert not versions(store)


@pytest.mark.parametrize("step", ["compare", "register"])
def test_compare_and_register_with_no_training_runs(run_cli, store, step):
    result = run_cli(step)
    assert_one_line_error(result, "no finished training runs in experiment "
                          "'experiment-diabetes'", "mlflow run . -e train")
    assert_failed_run(store, step)
    assert not versions(store)


def test_register_with_an_unknown_metric_changes_no_registry(run_cli, store):
    train("linear", cv=0)
    result = run_cli("register", "--metric", "test_r3_score")
    assert_one_line_error(result, "no training run has metric 'test_r3_score'", "test_r2_score")
    assert not versions(store)


def test_predict_with_a_missing_column_writes_nothing(run_cli, store, tmp_path):
    train("linear", cv=0)
    register()
    path = write_csv(tmp_path / "nobmi.csv", lab_frame().drop(columns=["BMI", "Y"]))
    out = tmp_path / "out.csv"
    result = run_cli("predict", "--data", path, "--output", str(out))
    assert_one_line_error(result, "lacks column(s) BMI")
    assert_failed_run(store, "predict")
    assert not out.exists() and list(tmp_path.glob("*.partial")) == []


def test_predict_without_a_registered_model_says_register_first(run_cli, store):
    result = run_cli("predict")
    assert_one_line_error(result, "cannot find model 'models:/model-diabetes@champion'",
                          "mlflow run . -e register")


def test_traceback_is_shown_when_asked_for(run_cli, store):
    result = run_cli("--traceback", "train", "--estimator", "tre")
    assert result.returncode == 1 and "Traceback" in result.stderr


def test_predict_output_must_be_parquet_or_csv(run_cli, store):
    result = run_cli("predict", "--output", "predictions.xlsx")
    assert_one_line_error(result, "must end in .parquet or .csv")


def test_unreadable_data_in_process_raises_trackfit_error(tmp_path):
    from trackfit import DataError, TrackfitError
    from trackfit.engines import pandas as data
    from trackfit.engines.source import parse

    with pytest.raises(TrackfitError, match="cannot tell the format") as error:
        data.load(parse(str(write_csv(tmp_path / "lab.data", pd.DataFrame({"a": [1]})))))
    assert isinstance(error.value, DataError) and error.value.code == 2
    assert error.value.problem == f"cannot tell the format of data '{tmp_path / 'lab.data'}'"
    assert error.value.fix == "name it .parquet, .csv or .tsv"


HUGE = "x" * 1_000_000


@pytest.mark.parametrize("option, value, phrases", [
    ("--params", HUGE, ["cannot read params 'xxx", "(1,000,000 characters): write name=value"]),
    ("--params", f"criterion={HUGE}", ["rejected criterion='xxx", "Fix the value in params"]),
    ("--params", f"{HUGE}=3", ["has no hyperparameter 'xxx", "it takes:"]),
    ("--cv", HUGE, ["cv must be a whole number, got 'xxx", "(1,000,000 characters)"]),
], ids=["unreadable params", "rejected value", "unknown name", "not a number"])
def test_a_huge_option_value_is_quoted_short(store, capsys, option, value, phrases):
    from trackfit.cli import main

    assert main(["train", "--estimator", "tree", option, value]) == InputError.code
    (line,) = capsys.readouterr().err.splitlines()
    assert len(line) < 1000, line[:1000]
    for phrase in phrases:
        assert phrase in line


@pytest.mark.parametrize("space", [f"alpha={HUGE}(1,2)", f"alpha=int({HUGE},2)",
                                   f"alpha=1|{HUGE}(|", "x" * 1_000_000],
                         ids=["range name", "range bound", "choice", "entry"])
def test_a_huge_space_entry_is_quoted_short(space):
    from trackfit import TrackfitError
    from trackfit.estimators import space as spacemod

    with pytest.raises(TrackfitError) as error:
        spacemod.parse(space)
    assert len(str(error.value)) < 700
    assert "characters)" in str(error.value)


def test_a_model_whose_mlmodel_is_not_plain_yaml_is_refused_as_such(store, tmp_path, capsys):
    from trackfit.cli import main

    model = train("linear", cv=0)["model_uri"]
    (mlmodel,) = tmp_path.glob("mlartifacts/**/MLmodel")
    with open(mlmodel, "a") as handle:
        handle.write("hook: !!python/object/apply:os.system ['touch pwned']\n")
    assert main(["predict", "--model", model]) == ModelRefused.code
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"trackfit: error: will not load model '{model}': its MLmodel is "
                           "not plain YAML (")
    assert "python/object/apply:os.system" in line
    assert line.endswith("a !!python tag in it would run code; register a model trackfit "
                         "logged, or pass model= another models:/ or runs:/ URI")
    assert "register one first" not in line
    assert not (tmp_path / "pwned").exists()
    assert_failed_run(store, "predict")


# The exit codes (trackfit.errors, the README's table): one real case of each kind, through
# the command line's main in this process.


def test_a_bad_data_file_exits_2(run_cli, store, tmp_path):
    result = run_cli("train", "--data", str(tmp_path / "nope.csv"))
    line = assert_one_line_error(result, code=2)
    assert line == (f"trackfit: error: data file not found: {tmp_path / 'nope.csv'}; pass "
                    "data= a parquet or CSV path, a URL, or 'diabetes' for the embedded copy")


def test_a_refused_crafted_model_exits_3(run_cli, store, tmp_path):
    import mlflow
    from sklearn.linear_model import LinearRegression

    with mlflow.start_run():  # a pickle that registers as the champion: never loaded
        info = mlflow.sklearn.log_model(LinearRegression().fit([[0], [1]], [0, 1]), name="m",
                                        serialization_format="cloudpickle", pip_requirements=[])
    version = mlflow.register_model(info.model_uri, "model-diabetes").version
    mlflow.MlflowClient().set_registered_model_alias("model-diabetes", "champion", version)
    result = run_cli("predict")
    assert_one_line_error(result, "will not load model", "saved as cloudpickle", code=3)


def test_an_unreachable_store_exits_4(run_cli, store):
    from .conftest import free_port

    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_cli("compare", uri=uri, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
                     MLFLOW_HTTP_REQUEST_TIMEOUT="5")
    assert_one_line_error(result, f"the tracking server {uri} is unreachable", code=4)


def test_a_gate_refusal_exits_5_only_when_strict(run_cli, store):
    train("linear", cv=0)
    register()
    train("tree", cv=0)  # held-out R2 about 0.1 against the champion's 0.39
    result = run_cli("register", "--metric", "training_r2_score", "--strict", "true")
    line = assert_one_line_error(result, "refused run", "alias champion stays on version 1",
                                 code=5)
    assert line.startswith("trackfit: error: refused run ")
    assert run_cli("register", "--metric", "training_r2_score").returncode == 0


def test_every_error_has_a_problem_a_fix_and_a_code_and_reads_as_one_line():
    import pickle

    from trackfit import (DataError, EstimatorError, GateRefused, ModelRefused, ServerError,
                          StoreError, TrackfitError, UsageError, trust)
    from trackfit.engines.checks import not_found

    error = not_found("nope.csv")
    assert (error.problem, error.fix) == (
        "data file not found: nope.csv",
        "pass data= a parquet or CSV path, a URL, or 'diabetes' for the embedded copy")
    assert str(error) == f"{error.problem}; {error.fix}"
    again = pickle.loads(pickle.dumps(error))  # as worker processes send it back
    assert (type(again), again.problem, again.fix, str(again)) == (
        DataError, error.problem, error.fix, str(error))
    assert str(TrackfitError("no fix")) == "no fix"
    codes = {cls: cls.code for cls in (TrackfitError, UsageError, DataError, EstimatorError,
                                       ModelRefused, ServerError, StoreError, GateRefused)}
    assert codes == {TrackfitError: 1, UsageError: 2, DataError: 2, EstimatorError: 2,
                     ModelRefused: 3, ServerError: 4, StoreError: 4, GateRefused: 5}
    assert issubclass(trust.Refused, ModelRefused) and issubclass(trust.Refused, ValueError)
    assert issubclass(GateRefused, TrackfitError)
