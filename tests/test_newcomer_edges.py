"""Small edges a newcomer hit: output file modes, missing extras, download bars, the report's
width in a browser and in MLflow's artifact frame."""

import os
import stat
import sys
import urllib.parse
from pathlib import Path

import mlflow
import pytest

from trackfit import TrackfitError, optional
from trackfit.cli import main as cli_main
from trackfit.entrypoints.compare import compare
from trackfit.entrypoints.predict import predict
from trackfit.entrypoints.train import train

from .conftest import PROJECT, runs


@pytest.fixture
def umask():
    """Set a umask for the test; the process's own is restored afterwards."""
    before = os.umask(0o022)
    os.umask(before)
    yield os.umask
    os.umask(before)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("name", ["predictions.parquet", "predictions.csv"])
def test_prediction_files_follow_the_umask(store, tmp_path, umask, mask, mode, name):
    model = train("linear", cv=0)["model_uri"]
    umask(mask)
    output = tmp_path / name
    predict(str(PROJECT / "examples" / "new_patients.csv"), model, str(output))
    assert stat.S_IMODE(output.stat().st_mode) == mode
    assert not list(tmp_path.glob("*.partial"))


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    with pytest.raises(TrackfitError) as caught:
        optional("optuna", "tune", "tune")
    assert str(caught.value) == ("tune needs optuna, which is not installed: "
                                 "pip install 'trackfit[tune]'")


def test_tune_without_optuna_names_the_extra(store, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert cli_main(["tune", "--estimator", "tree", "--trials", "2"]) == 2
    err = capsys.readouterr().err
    assert err == ("trackfit: error: tune needs optuna, which is not installed: "
                   "pip install 'trackfit[tune]'\n")
    assert runs(store) == []  # nothing started


def test_spark_without_pyspark_names_the_extra(store, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    assert cli_main(["load", "--spark", "local[2]"]) == 2
    err = capsys.readouterr().err
    assert "spark=local[2] needs pyspark and Java 17, which is not installed: " in err
    assert err.endswith("pip install 'trackfit[spark]'\n")


def test_compare_prints_no_download_bars(store, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    train("linear", cv=0)
    train("tree", cv=0)
    capsys.readouterr()
    assert cli_main(["compare"]) == 0
    assert "Downloading artifacts" not in capsys.readouterr().err
    assert "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR" not in os.environ  # restored


@pytest.mark.slow  # the browser
def test_the_report_fits_1280_px_and_its_charts_fill_a_narrow_frame(store, browser, tmp_path):
    for name in ("linear", "tree", "ridge", "knn"):
        train(name)
    run = compare()["run_id"]
    artifacts = mlflow.get_run(run).info.artifact_uri
    report = Path(urllib.parse.urlparse(artifacts).path) / "report.html"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(report.as_uri())
    page.screenshot(path=str(tmp_path / "report-1280.png"), full_page=True)
    scroll, client = page.evaluate(
        "(() => { const w = document.querySelector('.wide'); "
        "return [w.scrollWidth, w.clientWidth]; })()")
    assert scroll <= client, "the leaderboard needs a scrollbar at 1280 px"
    last = page.locator("#leaderboard th").last
    assert last.inner_text() == "run_id" and last.is_visible()
    page.close()
    # MLflow's artifact viewer shows the page in a frame about 514 px wide at 1280 px
    page = browser.new_page(viewport={"width": 514, "height": 768})
    page.goto(report.as_uri())
    page.screenshot(path=str(tmp_path / "report-frame.png"), full_page=True)
    scatter = page.locator(".pairs svg.chart").first
    width = scatter.evaluate("e => e.getBoundingClientRect().width")
    assert width > 400, f"a scatter plot is {width:.0f} px wide in the frame"
    page.close()
