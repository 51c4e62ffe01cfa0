"""A new SQLite store starts as a copy of a migrated empty one, cached per MLflow version."""

import sqlite3
import subprocess
import sys

import mlflow
import pytest


def tables(path):
    with sqlite3.connect(path) as db:
        return {name: db.execute(f"select count(*) from {name}").fetchone()[0]
                for (name,) in db.execute("select name from sqlite_master where type='table'")}


@pytest.mark.slow  # MLflow's server start, in a new interpreter of its own
def test_a_new_store_is_a_copy_of_the_cached_template_and_mlflow_opens_it(run_cli, tmp_path):
    cache = tmp_path / "cache"
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
    template = cache / "trackfit" / f"mlflow-{mlflow.__version__}.db"

    made = run_cli("train", "--cv", "0", uri=f"sqlite:///{first / 'mlflow.db'}", cwd=first,
               XDG_CACHE_HOME=str(cache))
    assert made.returncode == 0, made.stderr
    assert "Creating initial MLflow database tables" in made.stderr  # the template, once
    assert template.exists()
    counts = tables(template)
    assert counts["experiments"] == 0 and counts["runs"] == 0  # nothing of any user's

    uri = f"sqlite:///{second / 'mlflow.db'}"
    copied = run_cli("train", "--cv", "0", uri=uri, cwd=second, XDG_CACHE_HOME=str(cache))
    assert copied.returncode == 0, copied.stderr
    assert "Creating initial MLflow database tables" not in copied.stderr  # no migrations
    assert "training_r2_score 0.5539, test_r2_score 0.3929" in copied.stdout
    assert tables(template) == counts  # the template is never written to

    # A plain MLflow client opens the copy (MLflow's schema check passes) and writes to it.
    client = mlflow.MlflowClient(tracking_uri=uri)
    default = client.get_experiment("0")
    assert default.name == "Default"
    assert default.artifact_location.startswith(str(second))  # not the cache folder
    experiment = client.get_experiment_by_name("experiment-diabetes")
    [trained] = client.search_runs([experiment.experiment_id])
    assert trained.data.metrics["test_r2_score"] > 0.39
    run = client.create_run(experiment.experiment_id)
    client.log_metric(run.info.run_id, "written", 1.0)
    client.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).data.metrics == {"written": 1.0}
    client.create_registered_model("from-plain-mlflow")

    # What `mlflow ui` / `mlflow server` does on start: open both stores, checking the schema.
    # In a process of its own, as the server: it sets the process's registry URI for good.
    subprocess.run([sys.executable, "-c",
                    "import sys; from mlflow.server.handlers import initialize_backend_stores; "
                    "initialize_backend_stores(sys.argv[1], sys.argv[1], sys.argv[2])",
                    uri, str(second / "mlartifacts")], check=True, timeout=300)
    assert [m.name for m in client.search_registered_models()] == ["from-plain-mlflow"]
