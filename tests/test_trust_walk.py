"""The walk: models that hold no type skops calls unsafe, or hide an object inside a checked
one, are refused before anything in them runs.

Each crafted model is a real scikit-learn model fitted on the lab, then changed as an attacker
with write access to the store would, saved by MLflow in skops and registered as the champion.
`predict --data examples/new_patients.csv` must refuse it in one line, exit 3, mark the run
FAILED and write nothing: before the walk, these crashed the process (exit 139), corrupted
its heap, printed another array's bytes as predictions, or took gigabytes.
"""

import threading

import mlflow
import numpy as np
import pytest
import skops.io
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingRegressor,
                              HistGradientBoostingRegressor, RandomForestRegressor)
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.svm import SVR

from trackfit.estimators import checks
from trackfit.estimators.builtin import HIST_GB, NEIGHBOURS, TREE
from trackfit.entrypoints.train import train

from .conftest import PROJECT, free_port, logged_skops, runs, versions
from .test_trust import champion
from .test_trust_loading import assert_refused, lab, run_cli

NEW = str(PROJECT / "examples" / "new_patients.csv")
FAR = 10**6


def crafted_svr():
    """A precomputed-kernel SVR whose support vector indices lie far past its rows: libsvm
    reads the input's columns at those indices (exit 139 in predict, register and serve)."""
    model = SVR().fit(*lab())
    model.kernel = "precomputed"
    model.shape_fit_ = (10, 10)  # so the lab's ten columns pass as ten "training rows"
    model.support_ = model.support_ + 2**30  # gigabytes past the input's columns
    return model


def svr_start():
    """Genuine trees; the initial estimator is the crafted SVR (it crashed inside the old
    check, which predicted with it before looking at it)."""
    model = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(*lab())
    model.init_ = crafted_svr()
    return model


def zeros_encoder():
    """A fitted OneHotEncoder that turns the lab's ten columns into ten columns of zeros."""
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float32).fit(
        np.zeros((2, 10)))


def hidden_in_forest(build):
    """The forest's second estimator is Pipeline(encoder -> its own genuine tree): the old
    check validated the tree and never looked at what feeds it."""
    def craft():
        model = build(5, max_depth=4, random_state=0).fit(*lab())
        model.estimators_[1] = Pipeline([("encode", zeros_encoder()),
                                         ("tree", model.estimators_[1])])
        return model
    return craft


def hidden_in_hist_gb(first):
    """A hist-gb predictor that is Pipeline(``first`` -> a checked TreePredictor), dressed
    with its nodes so a check reading ``.nodes`` passes: the tree walks rows it never saw
    (one column of ten: it read other arrays' bytes, a new answer on every run)."""
    def craft():
        model = HistGradientBoostingRegressor(max_iter=5, random_state=0).fit(*lab())
        tree = model._predictors[0][0]
        hidden = Pipeline([("first", first()), ("tree", tree)])
        hidden.nodes = tree.nodes
        model._predictors[1][0] = hidden
        return model
    return craft


def one_column():
    return ColumnTransformer([("one", "passthrough", [0])]).fit(lab()[0].to_numpy())


def claimed(build, **attributes):
    """A genuine model whose attributes claim sizes it does not hold."""
    def craft():
        model = build().fit(*lab())
        for key, value in attributes.items():
            setattr(model, key, value)
        return model
    return craft


def two_rows():
    """A brute-force k-NN fitted on 2 rows that claims 20,000,000 rows and neighbours:
    11 KB on disk, 300 MB and 2 s per scored row."""
    X, y = lab()
    model = KNeighborsRegressor(n_neighbors=1, algorithm="brute").fit(X.head(2), y.head(2))
    model.n_neighbors = model.n_samples_fit_ = 20_000_000
    return model


def narrow_rows():
    """A k-NN whose training rows are five columns wide where the model reads ten."""
    model = KNeighborsRegressor(algorithm="brute").fit(*lab())
    model._fit_X = np.ascontiguousarray(model._fit_X[:, :5])
    return model


# name: (build the crafted model, the types its MLmodel trusts, what the refusal says)
CRAFTED = {
    "svr-precomputed": (crafted_svr, [], "its SVR's kernel is 'precomputed'"),
    "gbr-svr-start": (svr_start, TREE, "its GradientBoostingRegressor's init_ holds a "
                      "sklearn.svm._classes.SVR"),
    "forest-pipeline": (hidden_in_forest(RandomForestRegressor), TREE,
                        "its RandomForestRegressor's estimators_ holds a "
                        "sklearn.pipeline.Pipeline"),
    "extra-trees-pipeline": (hidden_in_forest(ExtraTreesRegressor), TREE,
                             "its ExtraTreesRegressor's estimators_ holds a "
                             "sklearn.pipeline.Pipeline"),
    "hist-gb-pipeline": (hidden_in_hist_gb(zeros_encoder), HIST_GB,
                         "its HistGradientBoostingRegressor's _predictors holds a "
                         "sklearn.pipeline.Pipeline"),
    "hist-gb-narrowing": (hidden_in_hist_gb(one_column), HIST_GB,
                          "its HistGradientBoostingRegressor's _predictors holds a "
                          "sklearn.pipeline.Pipeline"),
    "knn-2e7-neighbours": (two_rows, [], "its k-NN claims 20000000 training rows and holds 2"),
    "hist-gb-5e7-trees": (claimed(lambda: HistGradientBoostingRegressor(max_iter=5),
                                  n_trees_per_iteration_=50_000_000), HIST_GB,
                          "n_trees_per_iteration_ is 50000000, not 1"),
    "dummy-5e7-outputs": (claimed(DummyRegressor, n_outputs_=50_000_000), [],
                          "its DummyRegressor's n_outputs_ is 50000000, not 1"),
    "knn-narrow": (narrow_rows, NEIGHBOURS, "its KNeighborsRegressor's _fit_X is float64 "
                   "(442, 5), not an array of shape (n, 10)"),
}


def log_crafted(kind):
    build, types, _ = CRAFTED[kind]
    return logged_skops(build(), types, *lab())


@pytest.mark.parametrize("kind", sorted(CRAFTED))
def test_a_crafted_model_is_refused_by_predict(store, tmp_path, capsys, kind):
    champion(log_crafted(kind))
    output = tmp_path / "predictions.csv"
    assert_refused(capsys, "predict", "--data", NEW, "--output", str(output),
                   phrases=["fails the check of estimator", CRAFTED[kind][2]])
    assert not output.exists()
    assert len(runs(store, "predict", "FAILED")) == 1


def test_the_crafted_svr_exits_3_and_fails_the_run(store, run_cli):
    """In this process, as the other refusals here: the check refuses it before anything runs
    it (a crafted tree's refusal in a new interpreter: tests/test_trust_loading.py)."""
    from .test_errors import assert_failed_run, assert_one_line_error

    champion(log_crafted("svr-precomputed"))
    done = run_cli("predict", "--data", NEW)
    assert_one_line_error(done, "its SVR's kernel is 'precomputed'", code=3)
    assert_failed_run(store, "predict")


def test_the_crafted_svr_is_refused_by_serve(store, capsys):
    champion(log_crafted("svr-precomputed"))
    assert_refused(capsys, "serve", "--port", str(free_port()),
                   phrases=["its SVR's kernel is 'precomputed'"])


def test_the_gate_refuses_a_crafted_model_written_over_a_training_runs(store, tmp_path,
                                                                      capsys):
    """The model file of a real training run rewritten with the crafted SVR: register's
    gate loads it through the same walk, and no version is made."""
    train("svr", cv=0)
    (path,) = (tmp_path / "mlartifacts").rglob("model.skops")
    path.write_bytes(skops.io.dumps(crafted_svr()))
    assert_refused(capsys, "register", phrases=["its SVR's kernel is 'precomputed'"])
    assert not versions(store)


def test_the_gbrs_initial_estimator_never_runs_during_the_walk():
    """The walk refuses an init_ of any class but DummyRegressor by its type, in this
    process: had it predicted with the crafted SVR, the process would have died."""
    with pytest.raises(ValueError, match="init_ holds a sklearn.svm._classes.SVR"):
        checks.walk(svr_start())


@pytest.mark.parametrize("build", [
    lambda: RandomForestRegressor(20, max_depth=3, random_state=0),
    lambda: ExtraTreesRegressor(20, max_depth=3, random_state=0),
    lambda: KNeighborsRegressor(),
], ids=["forest", "extra-trees", "knn"])
def test_n_jobs_of_ten_thousand_is_cut_to_the_cores(store, tmp_path, capsys, build):
    """A model carrying n_jobs=10,000 predicts on at most the process's cores: predict
    started 10,006 threads before."""
    X, y = lab()
    model = build().fit(X, y)
    model.n_jobs = 10_000
    champion(logged_skops(model, TREE if hasattr(model, "estimators_") else NEIGHBOURS, X, y))
    before = threading.active_count()
    peak = [before]
    stop = threading.Event()

    def count():
        while not stop.wait(0.0005):
            peak[0] = max(peak[0], threading.active_count())

    counter = threading.Thread(target=count)
    counter.start()
    try:
        code, errors = run_cli(capsys, "predict", "--output", str(tmp_path / "p.csv"))
    finally:
        stop.set()
        counter.join()
    assert code == 0, errors
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 443
    # MLflow's own pools (run logging, downloads) come and go beside predict: a margin of 32
    # threads over the cores, against the 10,000 a crafted n_jobs started before.
    assert peak[0] - before <= checks._cores() + 32, (before, peak[0])


def _hist_gb():
    return HistGradientBoostingRegressor(max_iter=5, random_state=0).fit(*lab())


def _svr():
    return SVR().fit(*lab())


def _set(build, key, change):
    def craft():
        model = build()
        setattr(model, key, change(getattr(model, key, None)))
        return model
    return craft


@pytest.mark.parametrize("craft, phrase", [
    (_set(_svr, "support_", lambda s: s + FAR), "its SVR's support_ holds 442 indices, not all "
                                                "of rows 0 to 441"),
    (_set(_svr, "_dual_coef_", lambda d: d[:, :5].copy()),
     "its SVR's _dual_coef_ is float64 (1, 5), not an array of shape (1, 442)"),
    (_set(_svr, "_n_support", lambda n: n * 2), "its SVR's _n_support is [884, 884]"),
    (_set(_svr, "shape_fit_", lambda s: (s[0], 3)), "fitted on rows of shape (442, 3)"),
    (_set(_svr, "_impl", lambda _: "c_svc"), "its SVR holds '_impl', which scikit-learn's "
                                             "SVR never does"),
    (_set(_hist_gb, "_in_fit", lambda _: True), "holds '_in_fit'"),
    (_set(_hist_gb, "_baseline_prediction", lambda b: np.zeros((1, 5))),
     "_baseline_prediction is float64 (1, 5), not an array of shape (1, 1)"),
    (_set(lambda: KNeighborsRegressor().fit(*lab()), "n_neighbors", lambda _: 443),
     "its k-NN asks for 443 neighbours of 442 rows"),
    (_set(lambda: GradientBoostingRegressor(n_estimators=3).fit(*lab()), "_loss",
          lambda _: OneHotEncoder()), "its GradientBoostingRegressor's _loss holds a "
                                     "sklearn.preprocessing._encoders.OneHotEncoder"),
    (_set(lambda: DummyRegressor().fit(*lab()), "constant_", lambda c: np.zeros((1, 0))),
     "constant_ is float64 (1, 0), not an array of shape (1, 1)"),
], ids=["svr-support", "svr-dual", "svr-counts", "svr-width", "svr-impl", "hist-gb-in-fit",
        "hist-gb-baseline", "knn-neighbours", "gbr-loss", "dummy-constant"])
def test_the_walk_checks_each_array_against_the_others(craft, phrase):
    with pytest.raises(ValueError) as refused:
        checks.walk(craft())
    assert phrase in str(refused.value)
