"""report.html in a real browser (Debian's Chromium), and the MLflow UI on the same store."""

import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import urllib.parse
from pathlib import Path

import mlflow
import pytest

from trackfit.cli import ui
from trackfit.reports import html as html_report
from trackfit.entrypoints.compare import compare

from .conftest import (EXPERIMENT, PROJECT, answers, call_main, command_line, command_process,
                       descendants, free_port, kill_tree, runs, stopped_cleanly)

ESTIMATORS = "linear,tree,ridge,knn"
DOCS = PROJECT / "docs"
# TRACKFIT_REGENERATE_DOCS=1 rewrites the README's pictures from this test's fresh lab.
REGENERATE = bool(os.environ.get("TRACKFIT_REGENERATE_DOCS"))
PICTURES = ("report.png", "r2_by_estimator.png")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One lab of four estimators in its own store; returns (store URI, folder, compare run)."""
    folder = tmp_path_factory.mktemp("lab")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.MlflowClient(tracking_uri=uri).create_experiment(
        EXPERIMENT, artifact_location=(folder / "mlartifacts").as_uri())
    with command_process(uri, cwd=folder):
        assert call_main(["main", "--estimators", ESTIMATORS]) == 0
    (compare_run,) = runs(uri, "compare", "FINISHED")
    return uri, folder, compare_run


def report_file(compare_run):
    """The compare run's report.html in the local artifact store."""
    path = Path(urllib.parse.urlparse(compare_run.info.artifact_uri).path) / "report.html"
    assert path.exists()
    return path


def open_page(browser, url, width=1400):
    """A new page at ``url``; returns it and the console errors and page errors seen."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    errors = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    return page, errors


def column(page, name):
    """The texts of the leaderboard's column ``name``, top to bottom."""
    index = page.locator("#leaderboard th").all_inner_texts().index(name) + 1
    return page.locator(f"#leaderboard tbody tr td:nth-child({index})").all_inner_texts()


@pytest.mark.slow  # the browser
def test_report_shows_every_run_sorts_and_draws_every_chart(lab, browser, tmp_path):
    uri, _, compare_run = lab
    trained = runs(uri, "train", "FINISHED")
    html = report_file(compare_run).read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and " src=" not in html and "<link" not in html
    page, errors = open_page(browser, report_file(compare_run).as_uri())
    requests = []
    page.on("request", lambda request: requests.append(request.url))

    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == len(trained) == len(ESTIMATORS.split(","))
    estimators = column(page, "estimator")
    assert estimators[:2] == ["linear", "ridge"]  # best first by test_r2_score
    assert sorted(estimators) == sorted(ESTIMATORS.split(","))

    screenshot = tmp_path / "report.png"  # as first shown, before any sorting
    page.screenshot(path=str(screenshot), full_page=True)
    assert png_size(screenshot)[1] > 1000
    if REGENERATE:
        shutil.copy(screenshot, DOCS / "report.png")
        page.locator("svg.chart").first.screenshot(path=str(DOCS / "r2_by_estimator.png"))

    page.locator("#leaderboard th", has_text="estimator").click()
    assert column(page, "estimator") == sorted(estimators)
    page.locator("#leaderboard th", has_text="estimator").click()
    assert column(page, "estimator") == sorted(estimators, reverse=True)
    page.locator("#leaderboard th", has_text="fit_seconds").click()
    seconds = [float(v) for v in column(page, "fit_seconds")]
    assert seconds == sorted(seconds)
    page.locator("#leaderboard th", has_text="#").click()
    assert column(page, "estimator") == estimators

    charts = page.locator("svg.chart")
    titles = charts.locator("text.title").all_text_contents()
    assert titles[:4] == ["R2 score by Estimator", "Mean absolute error by Estimator",
                          "RMSE by Estimator", "Fit seconds by Estimator"]
    assert sum(t.startswith("Predicted vs actual: #") for t in titles) == html_report.TOP_MODELS
    assert sum(t.startswith("Residuals: #") for t in titles) == html_report.TOP_MODELS
    assert titles[-1] == "CV R2 score per fold, by Estimator"
    held_out = math.ceil(0.3 * 442)
    for i, title in enumerate(titles):
        chart = charts.nth(i)
        box = chart.bounding_box()
        assert box["width"] > 300 and box["height"] > 100, title
        marks = chart.locator(".mark").count()
        if "by Estimator" in title and "CV" not in title:
            assert marks == len(trained), title
        elif "CV" in title:
            assert marks == 5 * len(trained), title  # five folds each
        else:
            assert marks == held_out, title
    assert page.locator("text=Data digest:").count() == 1
    digest = trained[0].data.tags["trackfit.data_digest"]
    assert digest in page.locator("p.meta").all_inner_texts()[1]
    page.close()
    assert errors == []
    assert requests == []  # sorting and drawing fetched nothing


@pytest.mark.slow  # the browser
def test_crafted_run_text_is_shown_not_run(store, browser):
    """A run logged by anyone with access to the store cannot put markup or script in the
    report (the Recipes cards could: CVE-2024-27132, CVE-2024-27133)."""
    attack = "<img src=x onerror=alert(1)>"
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    run = client.create_run(experiment, tags={
        "trackfit.step": "train", "trackfit.data_digest": "<script>alert(2)</script>",
        "trackfit.git_commit": '"><svg onload=alert(3)>', "trackfit.fit_seconds": "0.1"})
    client.log_param(run.info.run_id, "estimator", attack)
    client.log_metric(run.info.run_id, "test_r2_score", 0.5)
    client.log_dict(run.info.run_id, {"y_true": ["<script>alert(4)</script>"], "y_pred": [1]},
                    "evaluation.json")
    client.set_terminated(run.info.run_id)
    result = compare()
    compare_run = mlflow.get_run(result["run_id"])
    path = report_file(compare_run)
    assert "<img" not in path.read_text() and "<script>alert" not in path.read_text()
    page, errors = open_page(browser, path.as_uri())
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.wait_for_load_state("load")
    assert column(page, "estimator") == [attack]
    assert page.locator("img").count() == 0 and page.locator("script").count() == 1
    assert "<script>alert(2)</script>" in page.locator("p.meta").nth(1).inner_text()
    page.locator("#leaderboard th", has_text="estimator").click()
    page.locator("svg.chart rect.mark").first.hover()
    assert page.get_by_text("No run logged held-out predictions").count() == 1
    page.close()
    assert dialogs == [] and errors == []


def test_make_ui_runs_the_ui_on_the_venvs_python(tmp_path):
    """What `make ui` runs (make's own plan, -n: nothing is run): the test below runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    plan = subprocess.run(["make", "--no-print-directory", "-n", "ui", f"VENV={tmp_path}",
                           "UI_PORT=5123", "UI_ARGS=--no-browser"], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines()[-1] == (
        f"{tmp_path}/bin/python -m trackfit.cli.ui --port 5123 --no-browser")


@pytest.mark.slow  # the browser
def test_mlflow_ui_prints_its_addresses_once_it_answers_shows_the_report_and_stops_on_sighup(
        lab, browser, tmp_path):
    """`make ui`'s command, as a user's shell runs it: its addresses once the UI answers, the
    training runs and the report in the browser, and its servers gone with it when its
    terminal closes (SIGHUP; SIGTERM to `trackfit serve` in tests/test_serve.py: trackfit
    handles both alike, trackfit.processes.SIGNALS)."""
    uri, _, compare_run = lab
    base = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLFLOW_RUN_ID", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME=EXPERIMENT,
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    process = subprocess.Popen([sys.executable, "-m", "trackfit.cli.ui", "--port",
                                base.rsplit(":", 1)[1], "--no-browser"], cwd=PROJECT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ours = []  # trackfit's lines, not MLflow's own
        while not ours or not ours[-1].startswith("The leaderboard"):
            line = process.stdout.readline()
            assert line, f"the UI exited: {ours}"
            if line.startswith(("ui:", "Training runs", "The leaderboard")):
                ours.append(line)
            if line.startswith("Training runs"):
                assert answers(f"{base}/health"), "the addresses came before the UI answered"
        assert ours[0].startswith("ui: starting the MLflow UI"), ours
        assert all(line.startswith("ui: waiting") for line in ours[1:-2]), ours
        experiment = compare_run.info.experiment_id
        runs_url = ui.runs_address(base, experiment)
        report_url = ui.report_address(base, experiment, compare_run.info.run_id)
        assert ours[-2].startswith("Training runs of experiment 'experiment-diabetes': ")
        assert ours[-2].strip().endswith(runs_url)
        assert ours[-1].strip().endswith(report_url)
        below = descendants(process.pid)
        commands = [command_line(pid) for pid in below]
        # `mlflow ui` and its one uvicorn: no worker processes, no job runner (MLflow's defaults
        # start four workers and a job runner with its consumers, 15 processes in all)
        assert len(below) == 2 and not any("huey" in c or "_job_runner" in c for c in commands), \
            commands

        page, _ = open_page(browser, runs_url, width=1700)  # beside the UI's side panels
        try:
            for name in ESTIMATORS.split(","):
                page.get_by_role("link", name=name, exact=True).wait_for(timeout=60_000)
        finally:
            page.screenshot(path=str(tmp_path / "ui-training-runs.png"))
        assert page.get_by_text(f"{len(ESTIMATORS.split(','))} matching runs").count() == 1
        page.close()

        page, _ = open_page(browser, report_url, width=1700)
        for name in ("leaderboard.csv", "r2_by_estimator.png", "report.html"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
        frame = page.frame_locator("iframe.mlflow-html-iframe")
        frame.locator("#leaderboard tbody tr").first.wait_for(timeout=60_000)
        assert frame.locator("#leaderboard tbody tr").count() == len(ESTIMATORS.split(","))
        frame.locator("#leaderboard th", has_text="estimator").click()
        names = frame.locator("#leaderboard tbody tr td:nth-child(2)").all_inner_texts()
        assert names == sorted(ESTIMATORS.split(","))  # its script runs in the sandbox
        page.screenshot(path=str(tmp_path / "ui-report.png"))
        page.close()
    except BaseException:
        kill_tree(process.pid)
        raise
    code, _ = stopped_cleanly(process, below, f"{base}/health", signal.SIGHUP)
    assert code == 128 + signal.SIGHUP


def png_size(path):
    """(width, height) of a PNG file; fails on anything that is not one."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", PICTURES)
def test_readme_pictures_are_committed_pngs(name):
    """docs/ holds the README's pictures; TRACKFIT_REGENERATE_DOCS=1 makes them anew above."""
    width, height = png_size(DOCS / name)
    assert 400 <= width <= 3000 and 150 <= height <= 6000
    assert f"docs/{name}" in (PROJECT / "README.md").read_text()


def crafted_training_run(estimator, r2, **params):
    """A finished training run as anyone with write access to the store could log it."""
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    run = client.create_run(experiment, tags={"trackfit.step": "train",
                                              "trackfit.fit_seconds": "0.1"})
    for name, value in {"estimator": estimator, **params}.items():
        client.log_param(run.info.run_id, name, value)
    client.log_metric(run.info.run_id, "test_r2_score", r2)
    client.log_metric(run.info.run_id, "test_mean_absolute_error", 40.0)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


def compare_artifacts(result):
    return Path(urllib.parse.urlparse(mlflow.get_run(result["run_id"]).info.artifact_uri).path)


def test_a_dollar_in_an_estimator_is_drawn_as_text(store):
    """matplotlib reads $...$ in a label as math; $x^$ is not valid math."""
    crafted_training_run("$x^$", 0.4, alpha="$x^$")
    crafted_training_run("linear", 0.5)
    result = compare()
    charts = compare_artifacts(result)
    for name in ("r2_by_estimator.png", "mae_by_estimator.png"):
        assert (charts / name).read_bytes().startswith(b"\x89PNG"), name
    assert list(result["leaderboard"]["estimator"]) == ["linear", "$x^$"]


def test_leaderboard_csv_cells_are_never_formulas(store):
    import csv

    formulas = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-1+1", "@SUM(A1)",
                "\tdata", "\r=1"]
    for rank, estimator in enumerate(formulas):
        crafted_training_run(estimator, -0.1 * (rank + 1))  # negative: a number, kept
    result = compare()
    with open(compare_artifacts(result) / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["estimator"] for row in rows] == [f"'{text}" for text in formulas]
    assert [float(row["test_r2_score"]) for row in rows] == [-0.1 * (r + 1) for r in range(6)]
    assert all(row["test_r2_score"].startswith("-0.") for row in rows)
    assert list(result["leaderboard"]["estimator"]) == formulas  # the table itself is as logged
