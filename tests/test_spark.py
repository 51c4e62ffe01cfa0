"""Spark as an engine: reading a Fabric-shaped folder, training to the lab's numbers, scoring
at scale with spark_udf, the same errors as pandas, and a real standalone cluster.

In-process tests share the session-scoped ``spark`` fixture (local[2]); commands run as
users run them start their own driver. The cluster tests drive a standalone master and worker
from a Python with trackfit's pins but not trackfit: .ci/run's (TRACKFIT_SPARK_MASTER and
TRACKFIT_SPARK_PYTHON), else one they start with scripts/spark.sh.
"""

import os
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from trackfit import TrackfitError
from trackfit.engines import pandas as datamod
from trackfit.engines.source import parse
from trackfit.entrypoints.load import load
from trackfit.entrypoints.predict import predict
from trackfit.entrypoints.train import train

from .conftest import (PROJECT, cli, entry_points_here, env_for, free_port, mlflow_run, runs,
                       spark_missing)

MASTER = os.environ.get("TRACKFIT_SPARK_MASTER", "")
needs_spark = pytest.mark.skipif(spark_missing() is not None, reason=str(spark_missing()))
LOOPBACK = {"SPARK_LOCAL_IP": "127.0.0.1"}
SPARK_SH = PROJECT / "scripts" / "spark.sh"


def fabric_folder(folder):
    """The lab's data as the Azure Open Datasets hold it: upper-case columns, integer types
    where the values are whole, in three parquet part files."""
    frame = datamod.read(parse("diabetes"))
    frame.columns = [c.upper() for c in frame.columns[:-1]] + ["Y"]
    for column in frame.columns:
        if (frame[column] == frame[column].round()).all():
            frame[column] = frame[column].astype("int64")
    assert {"AGE", "SEX", "S1", "Y"} <= {c for c in frame if frame[c].dtype == "int64"}
    folder.mkdir()
    for part, rows in enumerate(((0, 150), (150, 300), (300, len(frame)))):
        frame.iloc[slice(*rows)].to_parquet(folder / f"part-{part:05d}.snappy.parquet",
                                            index=False)
    return folder


def new_patients(path, rows, seed=0):
    """Rows to score with a patient_id key, lower-case features, whole numbers as ints."""
    rng = np.random.default_rng(seed)
    lab = datamod.read(parse("diabetes"))
    frame = pd.DataFrame({"patient_id": np.arange(1_000_000, 1_000_000 + rows)})
    for column in lab.columns[:-1]:
        values = rng.choice(lab[column].to_numpy(), rows)
        whole = (lab[column] == lab[column].round()).all()
        frame[column] = values.astype("int64") if whole else values
    frame["note"] = "new"
    frame.to_parquet(path, index=False) if str(path).endswith(".parquet") else \
        frame.to_csv(path, index=False)
    return frame


def lab_numbers(run):
    return (round(run.data.metrics["training_r2_score"], 4),
            round(run.data.metrics["test_r2_score"], 4))


@needs_spark
@pytest.mark.slow
def test_fabric_folder_trains_to_the_lab_numbers_through_mlflow_run(store, spark, tmp_path):
    """MLflow's command line and run, the step here on the session's Spark; the cluster test
    below and the Spark error test run Spark steps as processes of their own."""
    folder = fabric_folder(tmp_path / "diabetes")
    with entry_points_here():
        done = mlflow_run(store, "-e", "train", "-P", f"data={folder}/", "-P", "spark=local[2]",
                          "-P", "cv=0", **LOOPBACK)
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = runs(store, "train", "FINISHED")
    assert lab_numbers(run) == (0.5539, 0.3929)
    assert run.data.params["spark"] in ("local[2]", "'local[2]'")  # mlflow run shell-quotes
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.source_type == "spark"
    assert str(folder) in dataset.dataset.source
    assert dataset.dataset.digest == run.data.tags["trackfit.data_digest"]


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_load_with_the_active_session_gives_the_pandas_frame(store, spark, tmp_path):
    folder = fabric_folder(tmp_path / "diabetes")
    loaded = load(str(folder), spark="local[2]")
    pd.testing.assert_frame_equal(loaded["frame"], datamod.load(parse("diabetes")))
    run = mlflow.get_run(loaded["run_id"])
    assert run.inputs.dataset_inputs[0].dataset.source_type == "spark"
    assert run.data.params["spark"] == "local[2]"


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_spark_predict_matches_pandas_on_100000_rows_and_keeps_keys(store, spark, tmp_path):
    model = train("linear", cv=0)["model_uri"]
    source = tmp_path / "new_patients.parquet"
    given = new_patients(source, 100_000)
    predict(str(source), model, str(tmp_path / "pandas.parquet"))
    result = predict(str(source), model, str(tmp_path / "predictions"), spark="local[2]")
    by_pandas = pd.read_parquet(tmp_path / "pandas.parquet")
    by_spark = pd.read_parquet(tmp_path / "predictions").sort_values("patient_id",
                                                                     ignore_index=True)
    for frame in (by_pandas, by_spark):
        assert list(frame.columns) == list(given.columns) + ["prediction"]
        assert frame["age"].dtype == frame["patient_id"].dtype == "int64"
        pd.testing.assert_frame_equal(frame[given.columns], given, check_dtype=False)
    assert (by_spark.dtypes.astype(str)[:-2] == given.dtypes.astype(str)[:-1]).all()
    np.testing.assert_allclose(by_spark["prediction"], by_pandas["prediction"], rtol=0,
                               atol=1e-9)
    assert sorted(os.listdir(tmp_path)) == ["mlartifacts", "mlflow.db", "new_patients.parquet",
                                            "pandas.parquet", "predictions"]
    assert mlflow.get_run(result["run_id"]).data.tags["trackfit.rows"] == "100000"


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_relative_paths_are_this_folders_though_the_jvm_started_elsewhere(store, spark,
                                                                          tmp_path,
                                                                          monkeypatch):
    """The session's JVM started in another folder: ``data=new.parquet`` and
    ``output=predictions`` still mean this folder's, as they do for pandas."""
    model = train("linear", cv=0)["model_uri"]
    new_patients(tmp_path / "new.parquet", 20)
    before = sorted(os.listdir(PROJECT))
    monkeypatch.chdir(tmp_path)
    result = predict("new.parquet", model, "predictions", spark="local[2]")
    assert result["rows"] == 20
    assert len(pd.read_parquet(tmp_path / "predictions")) == 20
    assert sorted(os.listdir(PROJECT)) == before  # nothing written where the JVM started


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_numbers_held_as_text_score_as_pandas_scores_them_and_stay_text(store, spark, tmp_path):
    """Parquet text like ' 59': Spark's check and pandas read it as 59; scoring must too."""
    model = train("linear", cv=0)["model_uri"]
    given = new_patients(tmp_path / "unused.csv", 50)
    given["age"] = [f" {age}" if i % 2 else f"{age} " for i, age in enumerate(given["age"])]
    given["bmi"] = given["bmi"].astype(str)
    source = tmp_path / "text.parquet"
    given.to_parquet(source)
    predict(str(source), model, str(tmp_path / "pandas.parquet"))
    predict(str(source), model, str(tmp_path / "predictions"), spark="local[2]")
    by_pandas = pd.read_parquet(tmp_path / "pandas.parquet")
    by_spark = pd.read_parquet(tmp_path / "predictions").sort_values("patient_id",
                                                                     ignore_index=True)
    assert by_spark["age"].tolist() == given["age"].tolist()  # passed on as it was
    np.testing.assert_allclose(by_spark["prediction"], by_pandas["prediction"], rtol=0,
                               atol=1e-9)


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_missing_values_found_while_scoring_are_said_as_pandas_says_them(store, spark,
                                                                          tmp_path):
    """Writing every row, Spark finds missing values as it scores them (no pass over the
    data of its own first); the line counts them as pandas does, and nothing is written."""
    model = train("linear", cv=0)["model_uri"]
    given = new_patients(tmp_path / "unused.csv", 50)
    given["bp"] = given["bp"].astype("float64")
    given.loc[[3, 40], "bp"] = np.nan
    given.loc[40, "s1"] = np.nan
    source = tmp_path / "holes.parquet"
    given.to_parquet(source)
    with pytest.raises(TrackfitError) as by_pandas:
        predict(str(source), model, str(tmp_path / "pandas.parquet"))
    with pytest.raises(TrackfitError) as by_spark:
        predict(str(source), model, str(tmp_path / "predictions"), spark="local[2]")
    assert str(by_spark.value) == str(by_pandas.value)
    assert str(by_spark.value).startswith(f"data '{source}' has missing values in 2 row(s) "
                                          "(BP: 2, S1: 1)")
    assert not [name for name in os.listdir(tmp_path) if "predictions" in name
                or "pandas" in name]
    assert [r.info.status for r in runs(store, "predict", None)] == ["FAILED", "FAILED"]


def bad_sources(tmp_path):
    good = new_patients(tmp_path / "unused.csv", 5)
    good.drop(columns="s3").to_csv(tmp_path / "no_s3.csv", index=False)
    text = good.astype({"bmi": "object"})
    text.loc[3, "bmi"] = "n/a"
    text.to_csv(tmp_path / "text_bmi.csv", index=False)
    holes = good.astype({"bp": "float64"})
    holes.loc[[1, 2], "bp"] = np.nan
    holes.to_csv(tmp_path / "holes.csv", index=False)
    return {"missing folder": str(tmp_path / "nowhere") + "/",
            "missing column": str(tmp_path / "no_s3.csv"),
            "non-numeric column": str(tmp_path / "text_bmi.csv"),
            "missing values": str(tmp_path / "holes.csv")}


@pytest.mark.parametrize("case", ["missing folder", "missing column", "non-numeric column",
                                  "missing values"])
@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_bad_data_gives_the_same_one_line_error_as_pandas(store, spark, tmp_path, case):
    source = bad_sources(tmp_path)[case]
    with pytest.raises(TrackfitError) as by_pandas:
        datamod.load(parse(source))
    with pytest.raises(TrackfitError) as by_spark:
        load(source, spark="local[2]")
    assert str(by_spark.value) == str(by_pandas.value)
    assert "\n" not in str(by_spark.value)
    assert len(runs(store, "load", "FAILED")) == 1


def test_a_missing_folder_fails_in_one_line_before_spark_starts(run_cli, store, tmp_path):
    missing = tmp_path / "nowhere"
    done = run_cli("load", "--data", f"{missing}/", "--spark", "local[2]")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"trackfit: error: data file not found: {missing}/; pass data= a parquet or CSV "
        "path, a URL, or 'diabetes' for the embedded copy"]
    assert len(runs(store, "load", "FAILED")) == 1


@needs_spark
@pytest.mark.slow  # a command that starts its own Spark
def test_a_spark_error_is_one_line_naming_the_log_that_holds_the_rest(store, tmp_path):
    """The JVM's and pyspark's output on a failed read go to the log the line names."""
    model = train("linear", cv=0)["model_uri"]
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet at all")
    done = cli(store, "predict", "--data", str(corrupt), "--model", model,
               "--spark", "local[2]", TMPDIR=str(tmp_path), **LOOPBACK)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    prefix = (f"trackfit: error: data '{corrupt}' is not a readable parquet file "
              "(org.apache.spark.SparkException: [FAILED_READ_FILE.CANNOT_READ_FILE_FOOTER]")
    assert line.startswith(prefix), line
    assert "check the file, or re-export it as parquet (Spark's log: " in line
    log = line.rsplit("(Spark's log: ", 1)[1].rstrip(")")
    assert os.path.dirname(log) == str(tmp_path) and os.path.basename(log).endswith(".log")
    noise = open(log).read()
    assert "ERROR Executor" in noise and "\tat org.apache.spark" in noise  # the JVM's


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_a_failed_spark_job_leaves_nothing_at_the_output(spark, tmp_path):
    from pyspark.sql import functions as F

    from trackfit.engines import spark as sparkmod

    failing = spark.range(1000).select(
        F.when(F.col("id") == 999, F.raise_error(F.lit("boom"))).otherwise(F.col("id")))
    with pytest.raises(Exception, match="boom"):
        sparkmod.write(spark, failing, str(tmp_path / "predictions"))
    assert os.listdir(tmp_path) == []


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_a_source_too_big_for_the_driver_is_refused_before_conversion(store, spark):
    from pyspark.sql import functions as F

    rows = 8_000_000  # 11 columns of 8 bytes: 671 MB, over half of the default 1 GB driver
    columns = [(F.col("id") % 97).alias(c) for c in datamod.FEATURES + ["Y"]]
    spark.range(rows).select(*columns).createOrReplaceTempView("big_patients")
    with pytest.raises(TrackfitError) as refused:
        train("linear", data="big_patients", spark="local[2]", cv=0)
    message = str(refused.value)
    assert "8,000,000 rows" in message and "671 MB" in message
    assert "spark.driver.memory" in message and "predict" in message
    assert len(runs(store, "train", "FAILED")) == 1


def test_pandas_predict_keeps_the_key_and_integer_columns(store, tmp_path):
    model = train("linear", cv=0)["model_uri"]
    given = new_patients(tmp_path / "new_patients.csv", 50)
    result = predict(str(tmp_path / "new_patients.csv"), model,
                     str(tmp_path / "predictions.parquet"))["predictions"]
    written = pd.read_parquet(tmp_path / "predictions.parquet")
    for frame in (result, written):
        assert list(frame.columns) == list(given.columns) + ["prediction"]
        assert frame["patient_id"].dtype == frame["age"].dtype == frame["s1"].dtype == "int64"
        assert (frame["patient_id"] == given["patient_id"]).all()
        assert frame["prediction"].dtype == "float64" and frame["prediction"].notna().all()


# pyspark 4.3 warns that it does not fully support pandas 3. What trackfit relies on works;
# the pandas API on Spark does not import (README, "Beyond one machine").

@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_pandas_3_arrow_conversion_keeps_types(spark):
    frame = pd.DataFrame({"id": np.arange(3), "x": [0.5, 1.5, np.nan], "s": ["a", None, "c"],
                          "n": pd.array([1, None, 3], dtype="Int64")})
    back = spark.createDataFrame(frame).toPandas()
    assert back["id"].dtype == "int64" and back["x"].dtype == "float64"
    assert isinstance(back["s"].dtype, pd.StringDtype) and back["s"].isna().tolist() == [
        False, True, False]
    # A nullable integer column comes back as float64 with NaN, as it did with pandas 2.
    assert back["n"].dtype == "float64" and back["n"].isna().tolist() == [False, True, False]


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_pandas_3_pandas_udfs_run(spark):
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")
    def double(values: pd.Series) -> pd.Series:
        return values * 2

    frame = spark.range(5).select(F.col("id").cast("double").alias("x"))
    assert [r[0] for r in frame.select(double("x")).collect()] == [0.0, 2.0, 4.0, 6.0, 8.0]
    mapped = frame.mapInPandas(lambda batches: (b * 3 for b in batches), frame.schema)
    assert sorted(r.x for r in mapped.collect()) == [0.0, 3.0, 6.0, 9.0, 12.0]


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_pandas_3_breaks_the_pandas_api_on_spark(spark):
    with pytest.raises(ImportError, match="DateOffset"):
        import pyspark.pandas  # noqa: F401


def test_executors_load_the_checked_bytes_with_the_trust_the_driver_approved(store,
                                                                            monkeypatch):
    """What an executor unpickles carries the driver's approval: the types skops may trust
    and the validate checks, run there. Its own plugins (here none: the built-ins disabled)
    play no part, so it predicts as the driver checked, and a check refuses there too."""
    import pickle

    from trackfit import trust
    from trackfit.engines import scoring
    from trackfit.estimators import plugins

    model = train("tree", cv=0)["model_uri"]
    lab = datamod.load(parse("diabetes"))[datamod.FEATURES]
    with trust.checked(model) as folder:
        shipped = pickle.dumps(scoring.scorer(folder))
        expected = trust.load_model(folder).predict(lab)
    scoring._scorers.clear()  # an executor's Python worker: nothing loaded yet
    monkeypatch.setenv("TRACKFIT_DISABLE_PLUGINS", "scikit_learn")
    plugins.reset()
    assert "tree" not in plugins.catalogue().names()
    score = pickle.loads(shipped)
    np.testing.assert_array_equal(score(lab), expected)
    (name, check), = score.approval["checks"]
    assert (name, check.func.__name__, check.func.__module__) == (
        "tree", "walk", "trackfit.estimators.checks")  # the walk: the built-ins need no more

    def refuse(model):
        raise ValueError("not this tree")

    scoring._scorers.clear()
    strict = scoring.Scorer(score.data, score.plan,
                            dict(score.approval, checks=[("tree", refuse)]))
    with pytest.raises(trust.Refused, match="fails the check of estimator 'tree': not this"):
        strict(lab)


def test_the_package_executors_get_is_this_trackfit_without_bytecode():
    """``ship`` hands executors a zip of the very package this process imported."""
    import zipfile

    import trackfit
    from trackfit.engines import spark as sparkmod

    package = Path(trackfit.__file__).parent
    sources = sorted(f"trackfit/{path.relative_to(package)}" for path in package.rglob("*")
                     if path.is_file() and "__pycache__" not in path.parts)
    with zipfile.ZipFile(sparkmod._zip_of_package()) as archive:
        assert sorted(archive.namelist()) == sources
        assert archive.read("trackfit/trust/loading.py") == (
            package / "trust" / "loading.py").read_bytes()
    assert "trackfit/engines/spark.py" in sources and "trackfit/trust/loading.py" in sources


@pytest.fixture(scope="module")
def cluster(pins_python, tmp_path_factory):
    """A standalone master and one worker on loopback: .ci/run's, else one started here
    with the pins Python on free ports (one worker, 1 GB), stopped afterwards."""
    if MASTER:
        yield MASTER
        return
    # No PYTHONPATH: the worker hands its environment on to the executors' Python.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"PYTHON": pins_python, "TRACKFIT_SPARK_PORT": str(free_port()),
                "TRACKFIT_SPARK_UI_PORT": str(free_port()), "TRACKFIT_SPARK_MEMORY": "1g",
                "TRACKFIT_SPARK_DIR": str(tmp_path_factory.mktemp("cluster"))})
    try:
        started = subprocess.run([str(SPARK_SH), "start"], env=env, capture_output=True,
                                 text=True, timeout=300)
        assert started.returncode == 0, started.stdout + started.stderr
        yield f"spark://127.0.0.1:{env['TRACKFIT_SPARK_PORT']}"
    finally:
        subprocess.run([str(SPARK_SH), "stop"], env=env, capture_output=True, timeout=120)


def pins_shell(uri, python):
    """A shell whose ``python`` is the pins Python and with no PYTHONPATH: trackfit comes
    from the project's folder, as `mlflow run` gives it, and the executors (the driver names
    its Python for them) have no trackfit but the one it ships."""
    env = env_for(uri, PATH=f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}", **LOOPBACK)
    del env["PYTHONPATH"]
    return env


def pins_cli(uri, python, *args):
    """``python -m trackfit ARGS`` with the pins Python, from the project's folder."""
    return subprocess.run([python, "-m", "trackfit", *args], capture_output=True, text=True,
                          env=pins_shell(uri, python), cwd=PROJECT, timeout=900)


@needs_spark
@pytest.mark.slow  # a standalone cluster and the commands that drive it
def test_predict_on_a_cluster_whose_python_lacks_trackfit(store, cluster, pins_python,
                                                         tmp_path):
    """A tree model: the executors load the checked bytes with the trust this driver's
    plugins approved (its tree check included), from the trackfit the driver ships. (Spark
    reading a table for train is the same read on any master: the local tests above.)"""
    model = train("tree", cv=0)["model_uri"]
    given = new_patients(tmp_path / "new_patients.csv", 2000)
    done = pins_cli(store, pins_python, "predict", "--data", str(tmp_path / "new_patients.csv"),
                    "--model", model, "--output", str(tmp_path / "predictions"),
                    "--spark", cluster)
    assert done.returncode == 0, done.stderr[-3000:]
    by_spark = pd.read_parquet(tmp_path / "predictions").sort_values("patient_id",
                                                                     ignore_index=True)
    expected = mlflow.pyfunc.load_model(model).predict(
        datamod.validate(given, parse("new"), require_target=False)[datamod.FEATURES])
    assert list(by_spark.columns) == list(given.columns) + ["prediction"]
    assert (by_spark["patient_id"] == given["patient_id"]).all()
    np.testing.assert_allclose(by_spark["prediction"], expected, rtol=0, atol=1e-9)


@needs_spark
@pytest.mark.slow  # a standalone cluster and the command that drives it
def test_tune_trials_run_on_a_cluster_whose_python_lacks_trackfit(store, cluster, pins_python):
    done = pins_cli(store, pins_python, "tune", "--estimator", "tree", "--space",
                    "max_depth=2|3|4|5", "--search", "grid", "--n-jobs", "2", "--cv", "2",
                    "--trials-on", cluster)
    assert done.returncode == 0, done.stderr[-3000:]
    (parent,) = runs(store, "tune", "FINISHED")
    trials = [r for r in runs(store, "trial")
              if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(int(r.data.tags["trackfit.trial"]) for r in trials) == [0, 1, 2, 3]
    assert {r.info.status for r in trials} == {"FINISHED"}
    assert "cv_r2_score" in parent.data.metrics
    assert len(runs(store, "train", "FINISHED")) == 1


@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
@pytest.mark.parametrize("written", [True, False])
def test_a_prediction_that_is_not_finite_is_refused_as_with_pandas(store, spark, tmp_path,
                                                                   written, capsys):
    """A row far outside the training rows: pandas refuses it in one line, and so does Spark
    (the executor's error, not its traceback), writing nothing, shown or saved."""
    model = train("linear", cv=0)["model_uri"]
    given = new_patients(tmp_path / "unused.csv", 50)
    given.loc[2, "bmi"] = 1.7e308  # finite, but times the model's coefficient it is not
    source = tmp_path / "far.parquet"
    given.to_parquet(source)
    capsys.readouterr()
    with pytest.raises(TrackfitError) as error:
        predict(str(source), model, str(tmp_path / "predictions") if written else "",
                spark="local[2]")
    assert str(error.value) == (
        f"model '{model}' predicts a number that is not finite for 1 row(s) of a batch of "
        f"data '{source}': their values are far outside the rows it was trained on; check "
        "or drop those rows")
    assert capsys.readouterr().out == ""  # no rows shown
    assert not [name for name in os.listdir(tmp_path) if "predictions" in name]
    assert [r.info.status for r in runs(store, "predict", None)] == ["FAILED"]
