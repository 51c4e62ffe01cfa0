"""What loads is exactly what was checked: a nested MLmodel and crafted trees, on every route.

Each crafted model is real: a pickle whose unpickling writes a marker file, or a tree saved
by MLflow in skops with its nodes pointing out of range, logged to the test store and
registered as the champion. predict (pandas with and without a signature, Spark), serve and
rerun must refuse it in one line, exit 3, run none of its code and never crash.
"""

import os
import pickle
import tempfile
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pytest
import yaml
from mlflow.models import infer_signature
from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingRegressor,
                              HistGradientBoostingRegressor, RandomForestRegressor)
from sklearn.preprocessing import OneHotEncoder
from sklearn.tree import DecisionTreeRegressor

from trackfit import cli, trust
from trackfit.engines import pandas as data
from trackfit.engines.source import parse
from trackfit.estimators import checks
from trackfit.entrypoints.train import train

from .conftest import free_port, logged_skops, runs, versions
from .test_trust import WritesAFile, champion, crafted, edit_mlmodel, fitted

TREE = ["sklearn.tree._tree.Tree"]
HIST_GB = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
FAR = 10**6  # a node and a feature far past any array's end


def run_cli(capsys, *args):
    """``trackfit ARGS`` in this process; (exit code, the error lines on stderr)."""
    capsys.readouterr()
    code = cli.main(list(args))
    errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    return code, errors


def assert_refused(capsys, *args, phrases=()):
    code, errors = run_cli(capsys, *args)
    assert code == 3  # a refused model
    assert len(errors) == 1, errors
    assert errors[0].startswith("trackfit: error: will not load model"), errors[0]
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    return errors[0]


def lab():
    frame = data.load(parse("diabetes"))
    return frame[data.FEATURES], frame[data.TARGET]


def nested(marker, signature=True, target="inner"):
    """A real skops model whose python_function.data names a folder inside it holding a
    second MLmodel (pickle) and a pickle that writes ``marker`` when loaded."""
    def log(name):
        folder = Path(tempfile.mkdtemp()) / "model"
        X, y = lab()
        mlflow.sklearn.save_model(fitted(), folder, pip_requirements=[],
                                  signature=infer_signature(X, y) if signature else None)
        inner = folder / "inner"
        inner.mkdir()
        (inner / "model.pkl").write_bytes(pickle.dumps(WritesAFile(str(marker))))
        (inner / "MLmodel").write_text(yaml.safe_dump({"flavors": {
            "python_function": {"loader_module": "mlflow.sklearn", "model_path": "model.pkl"},
            "sklearn": {"pickled_model": "model.pkl", "serialization_format": "pickle"}}}))
        (folder / "model.pkl").write_bytes(pickle.dumps(WritesAFile(str(marker))))
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        mlmodel["flavors"]["python_function"]["data"] = target
        (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
        mlflow.log_artifacts(str(folder), name)
        return SimpleNamespace(model_uri=f"runs:/{mlflow.active_run().info.run_id}/{name}")
    return log


@pytest.mark.parametrize("signature", [True, False], ids=["signature", "no-signature"])
def test_a_nested_mlmodel_is_refused_by_predict(store, tmp_path, capsys, signature):
    marker = tmp_path / "pwned"
    champion(nested(marker, signature))
    output = tmp_path / "predictions.csv"
    line = assert_refused(capsys, "predict", "--output", str(output),
                          phrases=["holds a second MLmodel (inner/MLmodel)"])
    assert "--trust-model" in line
    assert not marker.exists()
    assert not output.exists()
    assert len(runs(store, "predict", "FAILED")) == 1


def test_data_naming_any_file_but_the_flavors_own_is_refused(store, tmp_path, capsys):
    marker = tmp_path / "pwned"

    def log(name):  # the pickle beside model.skops, no second MLmodel
        folder = Path(tempfile.mkdtemp()) / "model"
        mlflow.sklearn.save_model(fitted(), folder, pip_requirements=[])
        (folder / "model.pkl").write_bytes(pickle.dumps(WritesAFile(str(marker))))
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        mlmodel["flavors"]["python_function"]["data"] = "model.pkl"
        (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
        mlflow.log_artifacts(str(folder), name)
        return SimpleNamespace(model_uri=f"runs:/{mlflow.active_run().info.run_id}/{name}")

    champion(log)
    assert_refused(capsys, "predict", phrases=[
        "its python_function flavor's data is 'model.pkl', not the flavor's own model file "
        "'model.skops'"])
    assert not marker.exists()


@pytest.mark.slow  # a local Spark
def test_a_nested_mlmodel_is_refused_by_spark_predict(store, tmp_path, capsys, spark):
    marker = tmp_path / "pwned"
    champion(nested(marker, signature=False))
    output = tmp_path / "predictions.parquet"
    assert_refused(capsys, "predict", "--spark", "local[1]", "--output", str(output),
                   phrases=["holds a second MLmodel"])
    assert not marker.exists()
    assert not output.exists()


def test_a_nested_mlmodel_is_refused_by_serve(store, tmp_path, capsys):
    marker = tmp_path / "pwned"
    champion(nested(marker))
    assert_refused(capsys, "serve", "--port", str(free_port()),
                   phrases=["holds a second MLmodel"])
    assert not marker.exists()


def test_rerun_never_loads_the_recorded_model(store, tmp_path, capsys):
    """rerun trains again from the recorded params: a crafted folder in the run loads nothing."""
    marker = tmp_path / "pwned"
    result = train("linear", cv=0)
    with mlflow.start_run(run_id=result["run_id"]):
        nested(marker)("model")
    code, errors = run_cli(capsys, "rerun", result["run_id"], "--force")
    assert code == 0, errors
    assert not marker.exists()


def test_checked_copies_are_removed_when_the_step_ends(store, tmp_path, capsys, monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # this test's temporary folder only
    train("linear", cv=0)
    assert run_cli(capsys, "register")[0] == 0
    assert run_cli(capsys, "predict", "--output", str(tmp_path / "p.csv"))[0] == 0
    champion(nested(tmp_path / "pwned"))
    assert run_cli(capsys, "predict")[0] == 3
    assert not list(temp.glob("trackfit-model-*"))


# Crafted trees: saved by MLflow in skops, the root's children and feature far out of range.

def _break_tree(tree):
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes[0]["left_child"], nodes[0]["right_child"], nodes[0]["feature"] = FAR, FAR + 1, FAR
    state["nodes"] = nodes
    tree.__setstate__(state)


def _break_predictor(predictor):
    predictor.nodes = predictor.nodes.copy()
    predictor.nodes[0]["left"], predictor.nodes[0]["right"] = FAR, FAR + 1
    predictor.nodes[0]["feature_idx"] = FAR


CRAFTED = {
    "tree": (lambda: DecisionTreeRegressor(max_depth=5), lambda m: _break_tree(m.tree_), TREE),
    "forest": (lambda: RandomForestRegressor(5, max_depth=5),
               lambda m: _break_tree(m.estimators_[3].tree_), TREE),
    "extra-trees": (lambda: ExtraTreesRegressor(5, max_depth=5),
                    lambda m: _break_tree(m.estimators_[4].tree_), TREE),
    "gbr": (lambda: GradientBoostingRegressor(n_estimators=5),
            lambda m: _break_tree(m.estimators_[2, 0].tree_), TREE),
    "hist-gb": (lambda: HistGradientBoostingRegressor(max_iter=5),
                lambda m: _break_predictor(m._predictors[1][0]), HIST_GB),
}


def crafted_tree(kind):
    build, breaks, types = CRAFTED[kind]
    X, y = lab()
    model = build().fit(X, y)
    breaks(model)
    return model, types, infer_signature(X, y)


def log_crafted(kind):
    model, types, signature = crafted_tree(kind)
    return lambda name: mlflow.sklearn.log_model(
        model, name=name, serialization_format="skops", skops_trusted_types=types,
        signature=signature, pip_requirements=[])


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_the_validator_names_a_crafted_tree_of_each_kind(kind):
    model, _, _ = crafted_tree(kind)
    with pytest.raises(ValueError, match=f"has child {FAR}, out of range"):
        checks.walk(model)
    build = CRAFTED[kind][0]
    checks.walk(build().fit(*lab()))  # the same kind, untouched, passes


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_a_crafted_tree_is_refused_by_predict_and_serve(store, tmp_path, capsys, kind):
    champion(log_crafted(kind))
    output = tmp_path / "predictions.csv"
    line = assert_refused(capsys, "predict", "--output", str(output), phrases=[
        f"fails the check of estimator '{kind}'", f"has child {FAR}, out of range"])
    assert not output.exists()
    assert len(runs(store, "predict", "FAILED")) == 1
    assert assert_refused(capsys, "serve", "--port", str(free_port())) == line


@pytest.mark.slow  # a new interpreter: a crash would kill that process, not pytest
def test_a_crafted_tree_exits_3_in_a_real_process(store, tmp_path):
    """The one run as a user runs it: exit 3 and one line, not 139 and a RUNNING run."""
    from .conftest import cli as user_cli
    from .test_errors import assert_failed_run, assert_one_line_error

    champion(log_crafted("tree"))
    done = user_cli(store, "predict")
    assert_one_line_error(done, "fails the check of estimator 'tree'", code=3)
    assert_failed_run(store, "predict")


def _wide_stages(model):
    """Two trees per stage where a regressor's output has one column: the second writes past
    it (with 2,000 per stage, predict died with exit 139 before the check)."""
    model.estimators_ = np.concatenate([model.estimators_] * 2, axis=1)
    model.n_trees_per_iteration_ = 2


def _empty_start(model):
    model.init_.constant_ = np.zeros((1, 0))


@pytest.mark.parametrize("crafted, phrase", [
    (_wide_stages, "its GradientBoostingRegressor's n_trees_per_iteration_ is 2, not 1"),
    (_empty_start, "its DummyRegressor's constant_ is float64"),
])
def test_the_validator_refuses_boosting_that_writes_past_its_output(crafted, phrase):
    model = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(*lab())
    crafted(model)
    with pytest.raises(ValueError, match=phrase):
        checks.walk(model)


def _crafted_start(model):
    """A decision tree as the initial estimator, its root splitting on a feature far past the
    rows: a check that predicts with it before checking it dies inside the check."""
    init = DecisionTreeRegressor(max_depth=3).fit(*lab())
    state = init.tree_.__getstate__()
    nodes = state["nodes"].copy()
    nodes[0]["feature"] = 10**9
    state["nodes"] = nodes
    init.tree_.__setstate__(state)
    model.init_ = init


def _negative_feature(model):
    predictor = model._predictors[1][0]
    predictor.nodes = predictor.nodes.copy()
    predictor.nodes[0]["feature_idx"] = -10**9  # a signed index: below 0 reads before the row


def _one_column_preprocessor(model):
    """Rows cut to one column before the trees, which split on all ten."""
    from sklearn.compose import ColumnTransformer

    model._preprocessor = ColumnTransformer([("p", "passthrough", [0])]).fit(lab()[0])


BEFORE_PREDICT = {
    "gbr-start": (lambda: GradientBoostingRegressor(n_estimators=5, random_state=0),
                  _crafted_start, TREE, "its GradientBoostingRegressor's init_ holds a "
                  "sklearn.tree._classes.DecisionTreeRegressor"),
    "hist-gb-negative": (lambda: HistGradientBoostingRegressor(max_iter=5), _negative_feature,
                         HIST_GB, "tree 1.0 splits on feature -1000000000"),
    "hist-gb-preprocessor": (lambda: HistGradientBoostingRegressor(max_iter=5),
                             _one_column_preprocessor, HIST_GB,
                             "its HistGradientBoostingRegressor's _preprocessor holds a "
                             "sklearn.compose._column_transformer.ColumnTransformer"),
}


@pytest.mark.parametrize("kind", sorted(BEFORE_PREDICT))
def test_what_the_check_itself_would_run_is_checked_first(kind):
    build, craft, _, phrase = BEFORE_PREDICT[kind]
    model = build().fit(*lab())
    craft(model)
    with pytest.raises(ValueError, match=phrase):
        checks.walk(model)


@pytest.mark.parametrize("kind", sorted(BEFORE_PREDICT))
def test_what_the_check_itself_would_run_is_refused_by_predict(store, tmp_path, capsys, kind):
    build, craft, types, phrase = BEFORE_PREDICT[kind]
    X, y = lab()
    model = build().fit(X, y)
    craft(model)
    champion(logged_skops(model, types, X, y))
    output = tmp_path / "predictions.csv"
    estimator = kind.split("-start")[0] if kind.startswith("gbr") else "hist-gb"
    assert_refused(capsys, "predict", "--output", str(output), phrases=[
        f"fails the check of estimator '{estimator}'", phrase])
    assert not output.exists()
    assert len(runs(store, "predict", "FAILED")) == 1


def test_boosting_that_writes_past_its_output_is_refused_by_predict(store, tmp_path, capsys):
    X, y = lab()
    model = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y)
    _wide_stages(model)
    champion(logged_skops(model, TREE, X, y))
    output = tmp_path / "predictions.csv"
    assert_refused(capsys, "predict", "--output", str(output), phrases=[
        "fails the check of estimator 'gbr'", "n_trees_per_iteration_ is 2, not 1"])
    assert not output.exists()


@pytest.mark.parametrize("problem, phrase", [
    ("feature", "splits on feature"), ("cycle", "out of range or not after it"),
    ("threshold", "threshold that is not a finite number"),
    ("shared", "exactly once from the root"),
])
def test_the_validator_refuses_features_cycles_and_non_numbers(problem, phrase):
    model = DecisionTreeRegressor(max_depth=4, random_state=0).fit(*lab())
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    inner = int(np.flatnonzero(nodes["left_child"] != -1)[1])
    if problem == "feature":
        nodes[inner]["feature"] = 10
    elif problem == "cycle":
        nodes[inner]["left_child"] = 0
    elif problem == "threshold":
        nodes[inner]["threshold"] = np.nan
    else:
        nodes[inner]["left_child"] = nodes[inner]["right_child"]
    state["nodes"] = nodes
    model.tree_.__setstate__(state)
    with pytest.raises(ValueError, match=phrase):
        checks.walk(model)


PLUGIN = '''
import pluggy

hookimpl = pluggy.HookimplMarker("trackfit")


def too_deep(model):
    depth = max(tree.get_depth() for tree in model.estimators_)
    if depth > 2:
        raise ValueError(f"depth {{depth}} is more than 2")


def passes(model):
    pass


@hookimpl
def register_estimators(register):
    register("{name}", "{factory}", trusted_types=["{tree}"]{validate})
'''


def drop_in(tmp_path, name, factory, validate=""):
    """A drop-in plugin registering ``factory`` as ``name``, trusting trees."""
    from trackfit.estimators import plugins

    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / f"{name}.py").write_text(
        PLUGIN.format(name=name, factory=factory, tree=TREE[0], validate=validate))
    plugins.reset()


@pytest.mark.parametrize("validate, phrase", [
    ("", "estimator 'boosted' (plugin 'boosted') trusts sklearn.tree._tree.Tree, which "
         "skops calls unsafe, and gives no validate check for its models"),
    (", validate=too_deep", "fails the check of estimator 'boosted': depth 3 is more than 2"),
])
def test_a_plugin_trusting_an_unsafe_type_needs_a_validate_check(store, tmp_path, capsys,
                                                                  validate, phrase):
    """AdaBoost's class has no rule in the walk: its plugin's validate checks it."""
    drop_in(tmp_path, "boosted", "sklearn.ensemble:AdaBoostRegressor", validate)
    assert run_cli(capsys, "train", "--estimator", "boosted", "--cv", "0")[0] == 0
    # the gate loads the challenger through the same check: it never becomes the champion
    assert_refused(capsys, "register", phrases=[phrase])
    assert not versions(store)


@pytest.mark.parametrize("name, factory, validate", [
    ("boosted", "sklearn.ensemble:AdaBoostRegressor", ", validate=passes"),
    ("one-tree", "sklearn.tree:ExtraTreeRegressor", ""),  # a class the walk knows
])
def test_a_plugin_model_the_walk_and_its_validate_pass_predicts(store, tmp_path, capsys, name,
                                                                factory, validate):
    drop_in(tmp_path, name, factory, validate)
    assert run_cli(capsys, "train", "--estimator", name, "--cv", "0")[0] == 0
    assert run_cli(capsys, "register")[0] == 0
    output = tmp_path / "p.csv"
    code, errors = run_cli(capsys, "predict", "--output", str(output))
    assert code == 0, errors
    assert output.exists()


def test_a_plugin_model_hiding_an_object_it_does_not_declare_is_refused(store, tmp_path,
                                                                        capsys):
    """Inside a plugin's class the walk allows plain data, classes it knows and the types
    the plugin declares: an encoder hidden among AdaBoost's trees is none of them."""
    from sklearn.ensemble import AdaBoostRegressor

    drop_in(tmp_path, "boosted", "sklearn.ensemble:AdaBoostRegressor", ", validate=passes")
    X, y = lab()
    model = AdaBoostRegressor(n_estimators=3, random_state=0).fit(X, y)
    model.estimators_[1] = OneHotEncoder().fit(X)
    champion(logged_skops(model, TREE, X, y))
    assert_refused(capsys, "predict", phrases=[
        "fails the check of estimator 'boosted': its estimators_ holds a "
        "sklearn.preprocessing._encoders.OneHotEncoder, which neither trackfit's walk nor its "
        "plugin declares"])


def test_the_guard_stays_on_while_the_checked_model_loads(store):
    """MLflow's loaders refuse skops with the guard on; trackfit's loader needs no lift."""
    result = train("tree", cv=0)
    with trust.guarded():
        with pytest.raises(Exception, match="Deserializing this model is disallowed"):
            mlflow.sklearn.load_model(result["model_uri"])
        with trust.checked(result["model_uri"]) as folder:
            assert os.environ[trust.GUARD_ENV] == "false"
            model = mlflow.pyfunc.load_model(folder)
    assert len(model.predict(lab()[0].head(3))) == 3


# A hostile MLmodel or example: refused, or ignored, in one line that names what is wrong.

def _signature(inputs):
    def change(mlmodel):
        mlmodel["signature"] = {"inputs": inputs, "outputs": None} if inputs != "hello" \
            else "hello"
    return change


def _columns(*names):
    import json

    return json.dumps([{"type": "double", "name": name, "required": True} for name in names])


@pytest.mark.parametrize("inputs, phrase", [
    ("hello", "its signature is not an MLflow signature with inputs"),
    ('[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 10]}}]',
     "its signature's inputs are not named columns"),
    (_columns("AGE", "SEX", "AGE"), "its signature names the column 'AGE' twice"),
    ("[{not json", "its MLmodel cannot be read (JSONDecodeError)"),
    ("[" * 100_000 + "]" * 100_000, "its MLmodel cannot be read (RecursionError)"),
], ids=["text", "tensor", "twice", "not-json", "nested"])
def test_a_hostile_signature_is_refused_in_one_line(store, tmp_path, capsys, inputs, phrase):
    champion(crafted(edit_mlmodel(_signature(inputs))))
    output = tmp_path / "predictions.csv"
    line = assert_refused(capsys, "predict", "--output", str(output), phrases=[phrase])
    assert "cannot find" not in line
    assert not output.exists()
    assert len(runs(store, "predict", "FAILED")) == 1


def test_a_signature_of_other_columns_than_the_models_is_refused(store, tmp_path, capsys):
    champion(crafted(edit_mlmodel(_signature(_columns("AGE", "SEX", "BMI")))))
    assert_refused(capsys, "predict", phrases=[
        "its signature names the columns AGE, SEX, BMI, but the model was fitted on AGE, SEX, "
        "BMI, BP, S1, S2, S3, S4, S5, S6"])


def test_an_example_nested_past_pythons_limit_is_ignored(store, tmp_path, capsys):
    def edit(folder):
        (folder / "serving_input_example.json").write_text("[" * 200_000 + "]" * 200_000)

    champion(crafted(edit))
    output = tmp_path / "predictions.csv"
    code, errors = run_cli(capsys, "predict", "--output", str(output))
    assert code == 0, errors
    assert len(output.read_text().splitlines()) == 443


def test_a_model_without_a_signature_predicts_without_a_warning(store, tmp_path, capsys):
    champion(crafted(lambda folder: None))  # saved with no signature
    code, errors = run_cli(capsys, "predict", "--output", str(tmp_path / "p.csv"))
    assert code == 0, errors
    assert not [line for line in errors if "WARNING" in line], errors


def test_the_mlmodel_file_given_as_the_model_says_to_pass_its_folder(store, tmp_path, capsys):
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(fitted(), folder, pip_requirements=[])
    code, errors = run_cli(capsys, "predict", "--model", str(folder / "MLmodel"))
    assert code == 2  # bad input: the model= option
    assert errors == [f"trackfit: error: model '{folder / 'MLmodel'}' is a file; pass the "
                      "folder that holds the model's MLmodel, or a models:/ or runs:/ URI"]
