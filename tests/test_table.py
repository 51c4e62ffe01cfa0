"""Your own table: any regression table by its target, text, dates, keys and missing values
handled inside the one logged model, as a user sees it (runs, params, schema.json, the
registry, predictions from trackfit and from plain MLflow, one-line errors)."""

import json
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest

from trackfit.engines.table import CATEGORY_CAP

from .conftest import runs, spark_missing, versions
from .test_errors import assert_failed_run, assert_one_line_error


def penguins(rows=300, seed=0):
    """A penguins-like table: species, island and sex as text, missing values in a number
    and in a text column and in the target, body_mass_g to predict."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], rows)
    sex = rng.choice(["male", "female"], rows).astype(object)
    flipper = rng.normal(200, 14, rows).round(0)
    mass = (3000 + (species == "Gentoo") * 1300 + (sex == "male") * 500
            + (flipper - 200) * 20 + rng.normal(0, 200, rows)).round(0)
    frame = pd.DataFrame({
        "species": species, "island": rng.choice(["Biscoe", "Dream", "Torgersen"], rows),
        "bill_length_mm": rng.normal(44, 5, rows).round(1), "flipper_length_mm": flipper,
        "sex": sex, "body_mass_g": mass})
    frame.loc[rng.choice(rows, 10, replace=False), "sex"] = None
    frame.loc[rng.choice(rows, 5, replace=False), "bill_length_mm"] = np.nan
    frame.loc[[3, 7], "body_mass_g"] = np.nan
    return frame


def cars(rows=200, seed=1):
    """A cars-like table: Name a key, Year date text, Origin text, Horsepower with missing
    values, Miles_per_Gallon to predict."""
    rng = np.random.default_rng(seed)
    origin = rng.choice(["USA", "Europe", "Japan"], rows, p=[0.6, 0.2, 0.2])
    cylinders = rng.choice([4, 6, 8], rows)
    weight = (1500 + cylinders * 300 + rng.normal(0, 200, rows)).round(0)
    year = rng.integers(1970, 1983, rows)
    mpg = (50 - cylinders * 2 - weight / 400 + (year - 1970) * 0.6
           + (origin == "Japan") * 3 + rng.normal(0, 2, rows)).round(1)
    frame = pd.DataFrame({
        "Name": [f"car {i}" for i in range(rows)], "Miles_per_Gallon": mpg,
        "Cylinders": cylinders, "Horsepower": (50 + cylinders * 15).astype(float),
        "Weight_in_lbs": weight, "Year": [f"{y}-01-01" for y in year], "Origin": origin})
    frame.loc[rng.choice(rows, 6, replace=False), "Horsepower"] = np.nan
    frame.loc[[0, 1, 2], "Miles_per_Gallon"] = np.nan
    return frame


@pytest.fixture
def penguins_csv(tmp_path):
    path = tmp_path / "penguins.csv"
    penguins().to_csv(path, index=False)
    return path


@pytest.fixture
def cars_csv(tmp_path):
    path = tmp_path / "cars.csv"
    cars().to_csv(path, index=False)
    return path


def new_penguins():
    """Rows to score: an island never seen, a missing sex and flipper, no target."""
    rows = penguins().drop(columns="body_mass_g").head(4).copy()
    rows.loc[0, "island"] = "Atlantis"
    rows.loc[1, "sex"] = None
    rows.loc[2, "flipper_length_mm"] = np.nan
    return rows


def artifact_json(run_id, path):
    return json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/{path}"))


def test_main_on_penguins_trains_registers_and_scores_raw_rows(store, run_cli, penguins_csv,
                                                               tmp_path):
    done = run_cli("main", "--data", str(penguins_csv), "--target", "body_mass_g",
                   "--estimators", "linear,tree,hist-gb", "--cv", "3")
    assert done.returncode == 0, done.stderr
    # the roles, once, in one short block; the dropped rows counted
    assert done.stdout.count("table penguins: target body_mass_g") == 1
    assert "(2 row(s) without it dropped)" in done.stdout
    assert "  category: species, island, sex" in done.stdout
    assert "  number:   bill_length_mm, flipper_length_mm" in done.stdout
    assert "imputed:  bill_length_mm, sex" in done.stdout
    trained = runs(store, "train", "FINISHED")
    assert len(trained) == 3
    for run in trained:
        params = run.data.params
        assert params["target"] == "body_mass_g"
        assert params["table.category"] == "species,island,sex"
        assert params["table.imputed"] == "bill_length_mm,sex"
        schema = artifact_json(run.info.run_id, "schema.json")
        assert schema["target"] == "body_mass_g" and schema["dropped"] == 2
        assert schema["roles"]["species"] == "category"
        assert run.data.metrics["test_r2_score"] > 0.7
    # the table's own registered model, not the lab's
    assert len(versions(store, "model-penguins")) == 1
    assert versions(store, "model-diabetes") == []
    # plain MLflow takes raw rows: an unseen island and missing values give finite numbers
    model = mlflow.pyfunc.load_model("models:/model-penguins@champion")
    predicted = model.predict(new_penguins())
    assert len(predicted) == 4 and np.isfinite(predicted).all()
    names = [spec.name for spec in model.metadata.signature.inputs.inputs]
    assert names == ["species", "island", "bill_length_mm", "flipper_length_mm", "sex"]
    # and trackfit's predict, which keeps every column it was given
    rows = tmp_path / "new.csv"
    new_penguins().assign(tag=["a", "b", "c", "d"]).to_csv(rows, index=False)
    out = tmp_path / "out.csv"
    done = run_cli("predict", "--data", str(rows), "--model", "models:/model-penguins@champion",
                   "--output", str(out))
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(out)
    assert list(scored.columns) == list(new_penguins().columns) + ["tag", "prediction"]
    assert np.allclose(scored["prediction"], predicted)


def test_cars_key_stays_out_of_the_model_and_in_the_predictions(store, run_cli, cars_csv,
                                                                tmp_path):
    done = run_cli("main", "--data", str(cars_csv), "--target", "Miles_per_Gallon",
                   "--estimators", "linear,forest", "--cv", "0")
    assert done.returncode == 0, done.stderr
    assert "key:      Name (distinct in every row)" in done.stdout
    assert "date:     Year" in done.stdout
    (run, *_) = runs(store, "train", "FINISHED")
    schema = artifact_json(run.info.run_id, "schema.json")
    assert schema["roles"] == {"Name": "key", "Cylinders": "number", "Horsepower": "number",
                               "Weight_in_lbs": "number", "Year": "date", "Origin": "category"}
    model = mlflow.pyfunc.load_model("models:/model-cars@champion")
    assert "Name" not in [spec.name for spec in model.metadata.signature.inputs.inputs]
    out = tmp_path / "out.csv"
    done = run_cli("predict", "--data", str(cars_csv), "--model", "models:/model-cars@champion",
                   "--output", str(out))
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(out)
    assert scored["Name"].tolist() == cars()["Name"].tolist()
    assert np.isfinite(scored["prediction"]).all()


def test_the_gate_rebuilds_the_table_from_the_runs_params(store, run_cli, penguins_csv):
    """register on its own (no frame in hand) reads the data again with the run's table."""
    for estimator in ("linear", "tree"):
        done = run_cli("train", "--estimator", estimator, "--data", str(penguins_csv),
                       "--target", "body_mass_g", "--cv", "0")
        assert done.returncode == 0, done.stderr
    done = run_cli("register", "--model_name", "model-penguins")
    assert done.returncode == 0, done.stderr
    assert "registered new version 1 of model-penguins" in done.stdout


@pytest.mark.parametrize("args, phrases", [
    (("--target", "body_mass"), ["target 'body_mass' is not a column",
                                 "did you mean 'body_mass_g'?"]),
    (("--target", "species"), ["target 'species'", "is not numeric", "'Adelie'"]),
    ((), ["does not say what to predict", "pass target="]),
    (("--target", "body_mass_g", "--features", "wings"), ["features= names 'wings'"]),
    (("--target", "body_mass_g", "--missing", "refuse"), ["has missing values in"]),
    (("--target", "body_mass_g", "--ignore",
      "species,island,bill_length_mm,flipper_length_mm,sex"), ["no column left to learn"]),
])
def test_bad_input_is_one_line_and_the_run_failed(store, run_cli, penguins_csv, args, phrases):
    done = run_cli("train", "--data", str(penguins_csv), *args)
    assert_one_line_error(done, *phrases)
    assert_failed_run(store, "train")


def test_a_target_with_one_value_is_one_line(store, run_cli, tmp_path):
    path = tmp_path / "flat.csv"
    penguins().assign(body_mass_g=4000.0).to_csv(path, index=False)
    done = run_cli("train", "--data", str(path), "--target", "body_mass_g")
    assert_one_line_error(done, "has the same body_mass_g (4000) in every row")


def test_predict_names_a_column_the_model_needs(store, run_cli, penguins_csv, tmp_path):
    done = run_cli("train", "--estimator", "linear", "--data", str(penguins_csv),
                   "--target", "body_mass_g", "--cv", "0")
    assert done.returncode == 0, done.stderr
    (run,) = runs(store, "train", "FINISHED")
    rows = tmp_path / "rows.csv"
    new_penguins().drop(columns="island").to_csv(rows, index=False)
    done = run_cli("predict", "--data", str(rows), "--model", f"runs:/{run.info.run_id}/model")
    assert_one_line_error(done, "lacks column(s) island")


def test_a_tables_runs_go_to_its_own_experiment(store, run_cli, penguins_csv):
    done = run_cli("train", "--estimator", "tree", "--data", str(penguins_csv),
                   "--target", "body_mass_g", "--cv", "0", MLFLOW_EXPERIMENT_NAME="")
    assert done.returncode == 0, done.stderr
    found = mlflow.MlflowClient().get_experiment_by_name("experiment-penguins")
    assert found is not None
    assert len(mlflow.MlflowClient().search_runs([found.experiment_id])) == 1


def test_compare_ranks_one_table_and_says_what_it_left_out(store, run_cli, penguins_csv):
    assert run_cli("train", "--estimator", "linear", "--cv", "0").returncode == 0  # the lab
    done = run_cli("train", "--estimator", "linear", "--data", str(penguins_csv),
                   "--target", "body_mass_g", "--cv", "0")
    assert done.returncode == 0, done.stderr
    done = run_cli("compare")
    assert done.returncode == 0, done.stderr
    assert "compare: left out 1 training run(s) of another table" in done.stdout
    assert "compare: 1 training runs" in done.stdout


def test_main_refit_best_fits_whole_only_the_best_by_cv_and_registers_it(store, run_cli,
                                                                         penguins_csv):
    """refit=best, as PyCaret's compare_models: every estimator's run holds its CV scores,
    only the best by CV is then fitted on the whole training split, scored on the held-out
    rows and logged as a model, in that same run; it is the one registered."""
    done = run_cli("main", "--data", str(penguins_csv), "--target", "body_mass_g",
                   "--estimators", "linear,tree,hist-gb", "--cv", "3", "--refit", "best")
    assert done.returncode == 0, done.stderr
    trained = {run.data.params["estimator"]: run for run in runs(store, "train", "FINISHED")}
    assert sorted(trained) == ["hist-gb", "linear", "tree"]
    by_cv = max(trained, key=lambda name: trained[name].data.metrics["cv_r2_score"])
    client = mlflow.MlflowClient(tracking_uri=store)
    for name, run in trained.items():
        has_model = list(client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'"))
        assert "cv_r2_score" in run.data.metrics and "cv_r2_score_std" in run.data.metrics
        if name == by_cv:
            assert run.data.tags["trackfit.refit"] == "best" and len(has_model) == 1
            assert run.data.metrics["test_r2_score"] > 0.7
            assert "trackfit.model_uri" in run.data.tags
            folds = artifact_json(run.info.run_id, "evaluation.json")["cv_folds"]
            assert len(folds["r2_score"]) == 3
        else:
            assert run.data.tags["trackfit.refit"] == "skipped" and has_model == []
            assert "test_r2_score" not in run.data.metrics
            assert "trackfit.model_uri" not in run.data.tags
            held = artifact_json(run.info.run_id, "evaluation.json")
            assert held["y_true"] == [] and len(held["cv_folds"]["r2_score"]) == 3
        assert f"train: {name} " in done.stdout
    assert done.stdout.count("(refit=best: fitted whole only if best)") == 3
    (compared,) = runs(store, "compare", "FINISHED")
    assert compared.data.params["metric"] == "cv_r2_score"
    # the report: every estimator's CV folds; held-out pairs for the one fitted whole
    report = mlflow.artifacts.load_text(f"runs:/{compared.info.run_id}/report.html")
    assert "(top 1 runs)" in report
    assert report.count('">mean ') == 3  # the CV spread: a row per estimator
    (main,) = runs(store, "main", "FINISHED")
    assert main.data.params["refit"] == "best"
    (version,) = versions(store, "model-penguins")
    assert version.run_id == trained[by_cv].info.run_id
    predicted = mlflow.pyfunc.load_model("models:/model-penguins@champion").predict(
        new_penguins())
    assert np.isfinite(predicted).all()
    # a run left with its CV scores reruns to the same ones
    skipped = next(run for name, run in trained.items() if name != by_cv)
    done = run_cli("rerun", skipped.info.run_id, "--force")
    assert done.returncode == 0, done.stderr
    assert "holds CV scores alone (main refit=best)" in done.stdout
    assert "metrics match run" in done.stdout


@pytest.mark.parametrize("args, phrase", [
    (("--refit", "best", "--cv", "0"), "refit=best picks the best by CV, and cv is 0"),
    (("--refit", "some"), "refit must be all or best, not 'some'"),
    (("--refit", "best", "--metric", "training_r2_score"),
     "refit=best ranks by CV, and metric training_r2_score has no CV twin"),
])
def test_main_refit_refuses_what_it_cannot_rank_before_any_run(store, run_cli, penguins_csv,
                                                                args, phrase):
    done = run_cli("main", "--data", str(penguins_csv), "--target", "body_mass_g", *args)
    assert_one_line_error(done, phrase)
    assert runs(store) == []


def test_each_estimator_gets_text_its_way_and_linear_gets_scaled_numbers(
        store, penguins_csv):
    """hist-gb: native codes (NaN where missing); forest: one column of codes per text
    column; ridge: one 0/1 column per value, numbers scaled. Each scores unseen and missing
    values to finite numbers, loaded back as MLflow loads it."""
    from trackfit.entrypoints.train import train

    model_of = {}
    for estimator in ("hist-gb", "ridge", "forest"):
        result = train(estimator, data=str(penguins_csv), target="body_mass_g", cv=0)
        model_of[estimator] = mlflow.sklearn.load_model(result["model_uri"])
        assert np.isfinite(model_of[estimator].predict(new_penguins())).all()

    def prepared(name, part):
        return model_of[name].named_steps["prepare"].named_transformers_[part]

    assert type(prepared("hist-gb", "category")).__name__ == "OrdinalEncoder"
    assert "scale" in prepared("ridge", "number").named_steps
    assert type(prepared("ridge", "category").named_steps["encode"]).__name__ \
        == "OneHotEncoder"
    assert "scale" not in prepared("forest", "number").named_steps
    assert type(prepared("forest", "category").named_steps["encode"]).__name__ \
        == "OrdinalEncoder"
    # species, island, sex: three columns of codes, not eight of values; unseen is -1
    codes = model_of["forest"].named_steps["prepare"].transform(new_penguins())
    assert codes.shape[1] == 3 + 2
    assert codes[0, 1] == -1 and codes[1:, :3].min() >= 0


def test_the_labs_model_stays_the_bare_estimator(store):
    from trackfit.entrypoints.train import train

    result = train("linear", cv=0)
    assert round(result["metrics"]["test_r2_score"], 4) == 0.3929
    model = mlflow.sklearn.load_model(result["model_uri"])
    assert type(model).__name__ == "LinearRegression"
    (run,) = runs(store, "train", "FINISHED")
    assert run.data.params["target"] == "Y"
    assert artifact_json(run.info.run_id, "schema.json")["lab"] is True


def test_mlflow_models_serve_takes_raw_rows_with_nulls_and_unseen_values(store, penguins_csv):
    """What `mlflow models serve` does with a request body, without starting a server."""
    from mlflow.models import validate_serving_input

    from trackfit.entrypoints.train import train

    result = train("ridge", data=str(penguins_csv), target="body_mass_g", cv=0)
    body = json.dumps({"dataframe_split": {
        "columns": ["species", "island", "bill_length_mm", "flipper_length_mm", "sex"],
        "data": [["Gentoo", "Atlantis", 45.1, 210, None], [None, "Dream", None, 190, "male"]]}})
    with warnings.catch_warnings():  # MLflow calls it deprecated; the server still uses it
        warnings.simplefilter("ignore", FutureWarning)
        predicted = validate_serving_input(result["model_uri"], body)
    assert len(predicted) == 2 and np.isfinite(np.asarray(predicted, dtype=float)).all()


BIRDS = '''
import pluggy

hookimpl = pluggy.HookimplMarker("trackfit")


def penguins():
    import pandas as pd

    return pd.read_csv({path!r})


@hookimpl
def register_datasets(register):
    register("penguins", penguins, "body_mass_g", description="Penguins: body mass")
'''


def test_a_named_dataset_from_a_plugin_trains_with_its_own_target(store, run_cli, tmp_path,
                                                                   penguins_csv):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "birds.py").write_text(BIRDS.format(path=str(penguins_csv)))
    done = run_cli("datasets")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert "target body_mass_g" in listed["penguins"] and "target Y" in listed["diabetes"]
    done = run_cli("main", "--data", "penguins", "--estimators", "tree", "--cv", "0")
    assert done.returncode == 0, done.stderr
    assert "table penguins: target body_mass_g" in done.stdout
    assert len(versions(store, "model-penguins")) == 1


def test_the_lab_read_as_a_table_is_a_pipeline_of_its_measurements(store):
    from trackfit.entrypoints.train import train

    result = train("linear", data="diabetes", ignore=["SEX"], cv=0)
    model = mlflow.sklearn.load_model(result["model_uri"])
    assert type(model).__name__ == "Pipeline"
    assert list(model.named_steps["prepare"].transformers_[0][2]) == [
        "AGE", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]


def test_a_text_column_past_the_cap_is_capped_and_says_how_to_change_it():
    from trackfit.engines.table import CATEGORY_CAP, infer
    from trackfit.engines.source import Ask

    rows = 3 * CATEGORY_CAP
    frame = pd.DataFrame({"town": [f"t{i % (CATEGORY_CAP + 10)}" for i in range(rows)],
                          "size": np.arange(rows, dtype=float) % 7,
                          "price": np.arange(rows, dtype=float)})
    _, table = infer(frame, Ask("price"), "towns.csv", "towns")
    assert dict(table.roles)["town"] == "category" and table.capped == ("town",)
    assert f"the {CATEGORY_CAP} most frequent kept" in table.describe()



@pytest.mark.parametrize("values", [CATEGORY_CAP - 1, CATEGORY_CAP, CATEGORY_CAP + 10])
def test_the_encoders_cap_is_asked_only_where_it_groups_and_predicts_the_same(values):
    from sklearn.base import clone

    from trackfit.engines.source import Ask
    from trackfit.engines.table import infer
    from trackfit.fitting.pipeline import build, category_cap
    from trackfit.fitting.training import resolve

    rows = 6 * CATEGORY_CAP
    frame = pd.DataFrame({"town": [f"t{i % values}" for i in range(rows)],
                          "size": np.arange(rows, dtype=float) % 7,
                          "price": np.arange(rows, dtype=float) % 13})
    _, table = infer(frame, Ask("price"), "towns.csv", "towns")
    X, y = frame[["town", "size"]], frame["price"]
    unseen = X.assign(town=["elsewhere", None] * (rows // 2))
    assert category_cap(["town"], X) == (CATEGORY_CAP if values >= CATEGORY_CAP else None)
    for name in ("ridge", "tree", "hist-gb"):  # one-hot, ordinal, and native codes
        spec, model = resolve(name, {}, 0)
        always = build(table, spec, clone(model)).fit(X, y)  # the cap whatever the rows
        counted = build(table, spec, clone(model), X).fit(X, y)
        for given in (X, unseen):
            assert np.array_equal(always.predict(given), counted.predict(given))

def test_a_tables_run_reruns_to_the_same_numbers(store, run_cli, penguins_csv):
    done = run_cli("train", "--estimator", "forest", "--data", str(penguins_csv),
                   "--target", "body_mass_g", "--cv", "2")
    assert done.returncode == 0, done.stderr
    (run,) = runs(store, "train", "FINISHED")
    done = run_cli("rerun", run.info.run_id, "--force")
    assert done.returncode == 0, done.stderr
    assert "metrics match run" in done.stdout


def test_the_report_names_the_target_and_shows_the_schema(store, penguins_csv):
    from trackfit.entrypoints.compare import compare
    from trackfit.entrypoints.train import train

    train("tree", data=str(penguins_csv), target="body_mass_g", cv=0)
    result = compare()
    page = mlflow.artifacts.load_text(f"runs:/{result['run_id']}/report.html")
    assert "Target: <code>body_mass_g</code>" in page
    assert "category: <code>species</code>, <code>island</code>, <code>sex</code>" in page
    assert "imputed: <code>bill_length_mm</code>, <code>sex</code>" in page
    assert "actual body_mass_g" in page


@pytest.mark.skipif(spark_missing() is not None, reason=str(spark_missing()))
@pytest.mark.slow  # the session's local Spark: a JVM and Python workers
def test_spark_reads_a_table_to_the_same_numbers_and_scores_its_pipeline(store, spark,
                                                                         cars_csv, tmp_path):
    from trackfit.entrypoints.predict import predict
    from trackfit.entrypoints.train import train

    by_pandas = train("tree", data=str(cars_csv), target="Miles_per_Gallon", cv=0)
    by_spark = train("tree", data=str(cars_csv), target="Miles_per_Gallon", cv=0,
                     spark="local[2]")
    assert by_spark["metrics"]["test_r2_score"] == by_pandas["metrics"]["test_r2_score"]
    out = tmp_path / "scored"
    predict(str(cars_csv), by_spark["model_uri"], str(out), spark="local[2]")
    scored = pd.read_parquet(out).sort_values("Name", key=lambda s: s.str[4:].astype(int))
    assert scored["Name"].tolist() == cars()["Name"].tolist()
    expected = mlflow.pyfunc.load_model(by_spark["model_uri"]).predict(
        cars().drop(columns=["Name", "Miles_per_Gallon"]))
    assert np.allclose(scored["prediction"], expected)
    # "NA" for missing, as R writes it: pandas reads those cells missing, and so does Spark
    # (its schema inference alone made Horsepower and the target text)
    marked = tmp_path / "cars_na.csv"
    cars().to_csv(marked, index=False, na_rep="NA")
    by_pandas = train("tree", data=str(marked), target="Miles_per_Gallon", cv=0)
    by_spark = train("tree", data=str(marked), target="Miles_per_Gallon", cv=0,
                     spark="local[2]")
    assert by_spark["metrics"]["test_r2_score"] == by_pandas["metrics"]["test_r2_score"]
    roles = [mlflow.get_run(r["run_id"]).data.params for r in (by_pandas, by_spark)]
    assert roles[0]["table.number"] == roles[1]["table.number"]
    assert "Horsepower" in roles[1]["table.number"] and "Horsepower" in roles[1]["table.imputed"]


def test_tune_searches_a_tables_pipeline(store, penguins_csv):
    from trackfit.entrypoints.tune import tune

    result = tune("ridge", trials=2, n_jobs=1, data=str(penguins_csv), target="body_mass_g",
                  cv=2)
    assert result["failed"] == 0
    model = mlflow.sklearn.load_model(result["train"]["model_uri"])
    assert type(model).__name__ == "Pipeline"


def test_the_unnamed_index_column_a_csv_writer_adds_is_a_key(tmp_path):
    from trackfit.engines.source import parse
    from trackfit.engines.source import Ask
    from trackfit.engines.pandas import load_table

    path = tmp_path / "with_index.csv"
    penguins().to_csv(path)  # index written: a first column named "Unnamed: 0" when read
    _, table = load_table(parse(str(path), Ask("body_mass_g")))
    assert table.keys == ["Unnamed: 0"]
    assert "Unnamed: 0" not in table.features
