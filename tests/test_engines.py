"""One engine seam: main reads its data once, on either engine, and every training run
logs that one dataset."""

import os

import pytest

from trackfit import engines
from trackfit.engines.pandas import PandasEngine
from trackfit.entrypoints.main import main

from .conftest import runs, spark_missing
from .test_spark import fabric_folder

needs_spark = pytest.mark.skipif(spark_missing() is not None, reason=str(spark_missing()))


def counting(monkeypatch, engine_class):
    """Count calls of ``engine_class.load``, which still does its work."""
    calls = []
    original = engine_class.load

    def load(self, src, require_target=True):
        calls.append(src.safe)
        return original(self, src, require_target)

    monkeypatch.setattr(engine_class, "load", load)
    return calls


def test_choose_gives_pandas_by_default_and_spark_for_a_master():
    assert engines.choose("").name == "pandas"
    assert engines.choose("local[1]").name == "spark"
    assert engines.choose("local[1]").params() == {"spark": "local[1]"}
    assert engines.choose("").params() == {}


def test_main_reads_the_data_once_with_pandas(store, monkeypatch):
    calls = counting(monkeypatch, PandasEngine)
    result = main(estimators=["linear", "tree", "ridge"], cv=0)
    assert calls == ["diabetes"]
    digests = {r.data.tags["trackfit.data_digest"] for r in runs(store, step="train")}
    assert digests == {result["load"]["digest"]}
    assert len(result["train"]) == 3


@needs_spark
@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_main_with_spark_reads_the_data_once(store, spark, tmp_path, monkeypatch):
    from trackfit.engines.spark import SparkEngine

    folder = fabric_folder(tmp_path / "diabetes")
    calls = counting(monkeypatch, SparkEngine)
    result = main(estimators=["linear", "tree"], data=str(folder), spark="local[2]", cv=0)
    assert calls == [str(folder)]
    trained = runs(store, step="train")
    assert len(trained) == 2
    for run in trained:
        assert run.data.params["spark"] == "local[2]"
        assert run.data.tags["trackfit.data_digest"] == result["load"]["digest"]
        assert [d.dataset.digest for d in run.inputs.dataset_inputs] == [result["load"]["digest"]]
    by_name = {r["estimator"]: r["metrics"] for r in result["train"]}
    assert round(by_name["linear"]["test_r2_score"], 4) == 0.3929


def test_main_with_workers_leaves_mlflows_guard_on(store):
    """Threads that save models at once lift MLflow's guard together and restore it once."""
    from trackfit import trust

    with trust.guarded():
        main(estimators=["linear", "tree", "ridge", "lasso"], cv=0, n_jobs=2)
        assert os.environ[trust.GUARD_ENV] == "false"


def test_an_earlier_output_scored_again_has_its_prediction_replaced_in_place(store, tmp_path):
    import pandas as pd

    from trackfit.entrypoints.predict import predict
    from trackfit.entrypoints.train import train

    linear = train("linear", cv=0)["model_uri"]
    tree = train("tree", cv=0)["model_uri"]
    source = os.path.join(os.path.dirname(__file__), "..", "examples", "new_patients.csv")
    first, again = tmp_path / "first.csv", tmp_path / "again.csv"
    predict(source, linear, str(first))
    predict(str(first), tree, str(again))
    before, after = pd.read_csv(first), pd.read_csv(again)
    assert list(after.columns) == list(before.columns)  # one prediction column, same place
    predict(source, tree, str(tmp_path / "tree.csv"))
    assert after["prediction"].equals(pd.read_csv(tmp_path / "tree.csv")["prediction"])
    assert not after["prediction"].equals(before["prediction"])
    pd.testing.assert_frame_equal(after.drop(columns="prediction"),
                                  before.drop(columns="prediction"))


def test_both_engines_implement_every_method_of_the_engine_and_the_readme_names_them():
    """The seam is declared once (engines.Engine): pandas and Spark each implement all of
    it, and the README's description of an engine names every method."""
    import inspect

    from trackfit.engines import Engine
    from trackfit.engines.spark import SparkEngine

    from .conftest import PROJECT

    methods = sorted(Engine.__abstractmethods__)
    assert {"params", "load", "check_output", "score", "show", "note", "check_trials",
            "trials"} <= set(methods)
    for engine_class in (PandasEngine, SparkEngine):
        assert issubclass(engine_class, Engine) and not engine_class.__abstractmethods__
        for method in methods:
            own = inspect.signature(getattr(engine_class, method))
            assert list(own.parameters) == list(
                inspect.signature(getattr(Engine, method)).parameters), (engine_class, method)
    readme = (PROJECT / "README.md").read_text()
    described = readme.split("A new engine is", 1)[1].split("\n\n", 1)[0]
    for name in ["Engine", "engines/base.py", *methods]:
        assert f"`{name}" in described, name


def test_an_error_line_names_the_spark_log_of_the_engine_chosen(store, monkeypatch, tmp_path,
                                                                capsys):
    """The command line asks engines.note(): pandas adds nothing; a Spark engine whose
    driver this process started adds where it logs (no Spark is started here)."""
    from trackfit.cli import main as cli
    from trackfit.engines import spark as sparkmod

    assert engines.choose("").note() == ""
    log = tmp_path / "trackfit-spark-x.log"
    monkeypatch.setattr(sparkmod, "LOG", str(log))
    monkeypatch.setattr(sparkmod, "_keep_log", False)
    engines.choose("local[1]")
    assert engines.note() == f" (Spark's log: {log})"
    assert cli(["predict", "--data", str(tmp_path / "absent.csv")]) != 0
    assert capsys.readouterr().err.rstrip().endswith(f"(Spark's log: {log})")


def test_pandas_predict_returns_what_it_scored_as_pandas(store, tmp_path):
    """predict's result is the same kind on every engine: the rows scored and a pandas
    preview (on pandas, every row)."""
    from trackfit.entrypoints.predict import predict
    from trackfit.entrypoints.train import train

    model = train("linear", cv=0)["model_uri"]
    source = os.path.join(os.path.dirname(__file__), "..", "examples", "new_patients.csv")
    result = predict(source, model, str(tmp_path / "out.csv"))
    assert result["rows"] == len(result["predictions"]) == 5
    assert list(result["predictions"].columns)[-1] == "prediction"
