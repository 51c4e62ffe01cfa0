"""The walk every loaded model passes before its first predict: what each object may hold.

skops builds whatever a model file describes from the types it is told to trust, and
scikit-learn's compiled predict then reads the arrays it was given without bounds checks: a
node index, a support vector index or a claimed size out of range crashes the process, reads
another array's bytes or allocates gigabytes. So trackfit (``trust``) walks the whole loaded
object, from the top, before anything in it runs, and raises ValueError naming the first
problem:

- every object is of a type allowed where it is found: the rules below name, for each
  scikit-learn class the built-ins use, every attribute it may hold after fit (its
  constructor's parameters, and the fitted attributes listed) and what each may hold: plain
  data (numbers, text, None, arrays of numbers or text, lists and dicts of those) or objects
  of the classes named, walked by their own rules. A forest holds only its own tree class, a
  hist-gb's ``_predictors`` only ``TreePredictor`` objects, a gbr's ``init_`` only a
  DummyRegressor (or "zero"); any other attribute or object is refused;
- every array compiled code reads is checked against the others: tree nodes (children in
  range, no cycles, features below ``n_features_in_``, finite numbers), an SVR's
  ``support_``, ``shape_fit_``, ``dual_coef_`` and ``support_vectors_``, a k-NN's
  ``n_neighbors <= n_samples_fit_ == len(_fit_X)``, its width and its index, one output
  (``n_outputs_ == 1``, ``n_trees_per_iteration_ == 1``, a one-value start);
- ``n_jobs`` is set to at most the cores this process may use.

A model whose class has no rule here is a plugin's: its objects must be plain data, objects
the rules know, or of types its plugin declares (``trusted_types``; the model itself, when
its plugin declares its class), which the plugin's ``validate`` checks after the walk;
without one they are refused.
"""

import os

import numpy as np

LEAF = -1  # sklearn.tree._tree.TREE_LEAF
PLAIN = "plain data"  # in a rule: numbers, text, None, arrays of them, lists and dicts of them
ANY = "*"  # in a rule: any other attribute name
_RULES = {}
_PARAMS = {}


def walk(model, declared=(), vouched=False):
    """Raise ValueError unless everything in ``model`` is what the walk allows where it is.

    ``model``: an estimator, or a Pipeline of preprocessing steps then the estimator (each
    step walked by ``prepared``, the estimator reading the width they pass on).
    ``declared``: type names the model's plugin declares; objects of those types are left to
    its validate, which ``vouched`` says it gives.
    """
    passed = None
    if _is_pipeline(model):
        model, passed = prepared(model)
    rules = known()
    if type(model) in rules:
        width = _width(model)
        _reads(model, width, passed)
        _visit(model, width, rules)
        return
    width = getattr(model, "n_features_in_", None)
    _reads(model, width, passed)
    name = _name(type(model))
    if name in declared:  # the plugin's own class, declared: its validate checks all of it
        if not vouched:
            raise ValueError(f"it is a {name}, which its plugin declares without a validate check")
        _reset_jobs(model)
        return
    for key, value in _state(model).items():
        _foreign(value, width, declared, vouched, rules, f"its {key}")
    _reset_jobs(model)


def estimator(model):
    """The estimator of ``model``: its last step if it is a Pipeline, else itself. Reads only
    the Pipeline's own ``steps`` (nothing in the model runs)."""
    if not _is_pipeline(model):
        return model
    steps = _state(model).get("steps")
    if type(steps) in (list, tuple) and steps and type(steps[-1]) in (list, tuple) \
            and len(steps[-1]) == 2:
        return steps[-1][1]
    return None


def _reads(model, width, passed):
    """The estimator after the preprocessing reads the ``passed`` features it passes on."""
    if passed is not None and width != passed:
        raise ValueError(f"its {type(model).__name__} reads {width!r} features, its "
                         f"preprocessing passes on {passed}")


def known():
    """{class: (attributes, check)}: the rule of each class the walk knows."""
    if not _RULES:
        _RULES.update(_rules())
    return _RULES


def _name(kind):
    return f"{kind.__module__}.{kind.__qualname__}"


def _state(obj):
    return vars(obj) if hasattr(obj, "__dict__") else {}


def _width(model):
    width = _state(model).get("n_features_in_")
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError("the model has no number of input features (n_features_in_)")
    return int(width)


def _plain(value):
    """Numbers, text, None, arrays of them (no objects), lists, tuples and dicts of them."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return True
    if isinstance(value, np.generic):
        return not isinstance(value, np.object_)
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return all(isinstance(item, str) for item in value.ravel().tolist())
        return not value.dtype.hasobject
    if type(value) in (list, tuple):
        return all(_plain(item) for item in value)
    if type(value) is dict:
        return all(_plain(key) and _plain(item) for key, item in value.items())
    return False


def _items(value):
    """The elements of a list, tuple or object array, or None for anything else."""
    if type(value) in (list, tuple):
        return value
    if isinstance(value, np.ndarray) and value.dtype == object:
        return value.ravel().tolist()
    return None


def _visit(obj, width, rules):
    """Walk ``obj``, of a class with a rule: each attribute by the rule, then its check."""
    kind = type(obj)
    attributes, check = rules[kind]
    params = _params(kind)
    for key, value in _state(obj).items():
        allowed = attributes.get(key, PLAIN if key in params else attributes.get(ANY))
        if allowed is None:
            raise ValueError(f"its {kind.__name__} holds '{key}', which scikit-learn's "
                             f"{kind.__name__} never does")
        _slot(value, allowed, width, rules, f"its {kind.__name__}'s {key}")
    own = _state(obj).get("n_features_in_", width)
    if own != width:
        raise ValueError(f"its {kind.__name__} reads {own} features, the model {width}")
    _reset_jobs(obj)
    if check is not None:
        check(obj, width)


def _params(kind):
    """The constructor parameters of ``kind`` and of the classes it derives from (a forest's
    trees keep ``class_weight`` from their base class)."""
    if kind not in _PARAMS:
        _PARAMS[kind] = {name for base in kind.__mro__ if "__init__" in vars(base)
                         and hasattr(base, "_get_param_names")
                         for name in base._get_param_names()}
    return _PARAMS[kind]


def _slot(value, allowed, width, rules, where):
    """``value`` is plain data (where allowed) or objects of the classes ``allowed`` names."""
    allowed = (allowed,) if isinstance(allowed, str) else allowed
    if PLAIN in allowed and _plain(value):
        return
    items = _items(value)
    if items is not None:
        for item in items:
            _slot(item, allowed, width, rules, where)
        return
    if type(value) not in allowed:
        raise ValueError(f"{where} holds a {_name(type(value))}, which scikit-learn never puts "
                         "there")
    _visit(value, width, rules)


def _foreign(value, width, declared, vouched, rules, where):
    """Inside a plugin's model: plain data, objects the rules know, or declared types."""
    if _plain(value):
        return
    if isinstance(value, dict):  # an OrderedDict, a defaultdict: containers
        for key, item in value.items():
            _foreign(key, width, declared, vouched, rules, where)
            _foreign(item, width, declared, vouched, rules, where)
        return
    items = _items(value)
    if items is not None:
        for item in items:
            _foreign(item, width, declared, vouched, rules, where)
        return
    kind = type(value)
    if kind in rules:
        _visit(value, _width(value) if width is None else int(width), rules)
        return
    if _name(kind) in declared:
        if not vouched:
            raise ValueError(f"{where} holds a {_name(kind)}, which its plugin declares "
                             "without a validate check")
        return
    raise ValueError(f"{where} holds a {_name(kind)}, which neither trackfit's walk nor its "
                     "plugin declares")


def _reset_jobs(obj):
    """``n_jobs`` at most the cores this process may use (10,000 threads otherwise)."""
    state = _state(obj)
    if "n_jobs" not in state or state["n_jobs"] is None:
        return
    jobs = state["n_jobs"]
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs == 0:
        raise ValueError(f"its {type(obj).__name__}'s n_jobs is {jobs!r}, not a number of jobs")
    cores = _cores()
    obj.n_jobs = min(int(jobs) if jobs > 0 else max(cores + 1 + int(jobs), 1), cores)


def _cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


def _fitted(*names, **objects):
    """A rule's attributes: ``names`` hold plain data, as every estimator's
    ``n_features_in_`` and ``feature_names_in_`` do; ``objects`` the classes named."""
    return dict({name: PLAIN for name in ("n_features_in_", "feature_names_in_") + names},
                **objects)


SEEDS = (PLAIN, np.random.RandomState)  # a random_state: a number, None or a RandomState


def _rules():
    """The rule of each class: ({attribute: PLAIN or the classes it may hold}, its check)."""
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
    from sklearn.neighbors import BallTree, KDTree, KNeighborsRegressor
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor, ExtraTreeRegressor
    from sklearn.tree._tree import Tree

    linear = (_fitted("coef_", "intercept_", "rank_", "singular_", "n_iter_", "solver_",
                      "dual_gap_"), _check_linear)
    tree = (_fitted("n_outputs_", "max_features_", tree_=(Tree,), random_state=SEEDS),
            _check_tree_model)
    forest = ("estimator_params", "n_outputs_", "_n_samples", "_sample_weight",
              "_n_samples_bootstrap", "oob_score_", "oob_prediction_")
    trees = ("estimator", "estimator_", "estimators_")  # the template, and the fitted trees
    rules = {
        LinearRegression: linear, Ridge: linear, Lasso: linear, ElasticNet: linear,
        DecisionTreeRegressor: tree, ExtraTreeRegressor: tree,
        RandomForestRegressor: (_fitted(*forest, **dict.fromkeys(trees, (DecisionTreeRegressor,))),
                                _check_forest),
        ExtraTreesRegressor: (_fitted(*forest, **dict.fromkeys(trees, (ExtraTreeRegressor,))),
                              _check_forest),
        KNeighborsRegressor: (_fitted(
            "_y", "effective_metric_params_", "effective_metric_", "_fit_method", "_fit_X",
            "n_samples_fit_", _tree=(PLAIN, KDTree, BallTree)), _check_knn),
        SVR: (_fitted("_sparse", "_effective_probability", "_gamma", "support_",
                      "support_vectors_", "_n_support", "dual_coef_", "intercept_", "_probA",
                      "_probB", "fit_status_", "_num_iter", "shape_fit_", "_intercept_",
                      "_dual_coef_", "n_iter_"), _check_svr),
        DummyRegressor: (_fitted("n_outputs_", "constant_"), _check_dummy),
    }
    opaque = (Tree, KDTree, BallTree, np.random.RandomState, np.random.Generator)
    rules.update({kind: ({}, None) for kind in opaque})  # checked by their owner's check
    rules.update(_boosting_rules())
    return rules


def _boosting_rules():
    """The rules of gbr and hist-gb, their losses and their parts."""
    from sklearn._loss import _loss, link, loss
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingRegressor
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree import DecisionTreeRegressor

    losses = tuple(getattr(loss, n) for n in ("HalfSquaredError", "AbsoluteError", "PinballLoss",
                                              "HuberLoss", "HalfPoissonLoss", "HalfGammaLoss",
                                              "HalfTweedieLoss", "HalfTweedieLossIdentity"))
    closses = tuple(getattr(_loss, f"Cy{kind.__name__}") for kind in losses)
    links = (link.IdentityLink, link.LogLink)
    rules = {
        GradientBoostingRegressor: (_fitted(
            "n_trees_per_iteration_", "max_features_", "train_score_", "n_estimators_",
            "oob_improvement_", "oob_scores_", "oob_score_", _loss=losses,
            init_=(PLAIN, DummyRegressor), estimators_=(DecisionTreeRegressor,),
            _rng=(np.random.RandomState,), random_state=SEEDS), _check_gbr),
        HistGradientBoostingRegressor: (_fitted(
            "is_categorical_", "_preprocessor", "_is_categorical_remapped",
            "n_trees_per_iteration_", "_random_seed", "_n_features", "do_early_stopping_",
            "_use_validation_data", "_baseline_prediction", "_scorer", "train_score_",
            "validation_score_", "_small_trainset_seed", _loss=losses,
            _feature_subsample_rng=(np.random.Generator,), _bin_mapper=(_BinMapper,),
            _predictors=(TreePredictor,), random_state=SEEDS), _check_hist),
        _BinMapper: (dict.fromkeys(("is_categorical_", "missing_values_bin_idx_",
                                    "bin_thresholds_", "n_bins_non_missing_"), PLAIN), None),
        TreePredictor: (dict.fromkeys(("nodes", "binned_left_cat_bitsets",
                                       "raw_left_cat_bitsets"), PLAIN), None),
        link.Interval: ({ANY: PLAIN}, None),
    }
    rules.update({kind: ({}, None) for kind in (*closses, *links)})
    rules.update({kind: ({"closs": closses, "link": links, "interval_y_true": (link.Interval,),
                          "interval_y_pred": (link.Interval,), ANY: PLAIN}, None)
                  for kind in losses})
    return rules


def _number(value):
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer,
                                                              np.floating))


def _array(obj, key, shape, kind="f"):
    """``obj.key``, an array of ``shape`` (None: any length) and dtype kind, finite numbers."""
    value = _state(obj).get(key)
    name = type(obj).__name__
    if not isinstance(value, np.ndarray) or value.dtype.kind not in kind \
            or len(value.shape) != len(shape) \
            or any(want is not None and got != want for got, want in zip(value.shape, shape)):
        shown = (f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray)
                 else type(value).__name__)
        wanted = ", ".join("n" if n is None else str(n) for n in shape)
        raise ValueError(f"its {name}'s {key} is {shown}, not an array of shape "
                         f"({wanted}{',' if len(shape) == 1 else ''})")
    if value.dtype.kind == "f" and not np.isfinite(value).all():
        raise ValueError(f"its {name}'s {key} holds a value that is not a finite number")
    return value


def _one(obj, key, want=1):
    value = _state(obj).get(key)
    if not _number(value) or value != want:
        raise ValueError(f"its {type(obj).__name__}'s {key} is {value!r}, not {want}: a "
                         "regressor's predictions are one column")


def _choice(obj, key, options):
    """``obj.key``, one of the words ``options``."""
    value = _state(obj).get(key)
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"its {type(obj).__name__}'s {key} is {value!r}, not one of "
                         f"{', '.join(options)}")
    return value


def _check_linear(model, width):
    _array(model, "coef_", (width,))
    intercept = _state(model).get("intercept_")
    if not _number(intercept) or not np.isfinite(intercept):
        raise ValueError(f"its {type(model).__name__}'s intercept_ is not a finite number")


def _check_tree_model(model, width):
    """A fitted tree estimator: one output, a tree predict can walk. A template (an ensemble's
    ``estimator``, never fitted) holds neither."""
    state = _state(model)
    if "tree_" not in state and "n_features_in_" not in state:
        return
    _one(model, "n_outputs_")
    tree = state.get("tree_")
    if tree is None:
        raise ValueError(f"its {type(model).__name__} has no tree")
    check_tree(tree, width)


def _fitted_trees(model, trees):
    if not trees:
        raise ValueError(f"its {type(model).__name__} holds no trees")
    for tree in trees:
        if "tree_" not in _state(tree):
            raise ValueError(f"its {type(model).__name__} holds a tree that was never fitted")


def _check_forest(model, width):
    _one(model, "n_outputs_")
    _fitted_trees(model, _state(model).get("estimators_"))


def _check_gbr(model, width):
    """One tree per stage, each adding into the one output column, from a one-value start:
    scikit-learn's compiled loop writes column k of each stage's k-th tree unchecked."""
    state = _state(model)
    _one(model, "n_trees_per_iteration_")
    stages = state.get("estimators_")
    if not isinstance(stages, np.ndarray) or stages.ndim != 2 or stages.shape[1] != 1:
        raise ValueError("its boosting stages are not one tree per stage, as a regressor's are")
    _fitted_trees(model, stages.ravel().tolist())
    start = state.get("init_")  # the rule allows no object but a DummyRegressor there
    if _plain(start) and not (isinstance(start, str) and start == "zero"):
        raise ValueError(f"its initial estimator is {start!r}, not a DummyRegressor or 'zero'")
    rate = state.get("learning_rate")
    if not _number(rate) or not np.isfinite(rate):
        raise ValueError("its learning_rate is not a finite number")


def _check_hist(model, width):
    """Rows as given (no preprocessor, no categories), one tree per iteration into one
    column, from a one-value baseline."""
    state = _state(model)
    _one(model, "n_trees_per_iteration_")
    if state.get("_preprocessor") is not None:
        raise ValueError("its hist-gb model transforms its input first (a categorical "
                         "preprocessor), which trackfit's models never do")
    mapper = state.get("_bin_mapper")
    categorical = _state(mapper).get("is_categorical_") if mapper is not None else None
    for flags in (state.get("is_categorical_"), categorical):
        if flags is not None and (np.shape(flags) != (width,) or np.asarray(flags).any()):
            raise ValueError("its hist-gb features are categorical, which trackfit's models "
                             "never are")
    _array(model, "_baseline_prediction", (1, 1))
    stages = state.get("_predictors")
    if not isinstance(stages, list) or not stages:
        raise ValueError("its hist-gb model holds no trees")
    for stage, predictors in enumerate(stages):
        if not isinstance(predictors, list) or len(predictors) != 1:
            raise ValueError(f"its hist-gb iteration {stage} is not one tree, as a "
                             "regressor's is")
        check_predictor(predictors[0], width, f"tree {stage}.0")


def _check_dummy(model, width):
    _one(model, "n_outputs_")
    _array(model, "constant_", (1, 1), kind="fiu")
    _choice(model, "strategy", ("mean", "median", "quantile", "constant"))


METRICS = ("euclidean", "manhattan", "chebyshev", "minkowski")  # those the built-ins trust
KERNELS = ("linear", "poly", "rbf", "sigmoid")  # not "precomputed": rows are features here


def _check_knn(model, width):
    """The training rows, their targets and index agree with the counts predict trusts:
    ``n_neighbors <= n_samples_fit_ == len(_fit_X)``, rows as wide as the model's."""
    state = _state(model)
    rows = _array(model, "_fit_X", (None, width))
    _array(model, "_y", (len(rows),))
    count, neighbours = state.get("n_samples_fit_"), state.get("n_neighbors")
    if not _number(count) or count != len(rows):
        raise ValueError(f"its k-NN claims {count!r} training rows and holds {len(rows)}")
    if not _number(neighbours) or not 1 <= neighbours <= count:
        raise ValueError(f"its k-NN asks for {neighbours!r} neighbours of {count} rows")
    _choice(model, "weights", ("uniform", "distance"))
    _choice(model, "effective_metric_", METRICS)
    params = state.get("effective_metric_params_")
    p = params.get("p", 2) if isinstance(params, dict) else None
    if not isinstance(params, dict) or set(params) - {"p", "w"} \
            or params.get("w") is not None or not _number(p) or not p >= 1:
        raise ValueError(f"its k-NN's distance takes {params!r}, not a power p of 1 or more")
    kinds = {"brute": "NoneType", "kd_tree": "KDTree", "ball_tree": "BallTree"}
    method, index = _choice(model, "_fit_method", tuple(kinds)), state.get("_tree")
    if kinds[method] != type(index).__name__:
        raise ValueError(f"its k-NN searches by {method!r} with a {type(index).__name__}")
    if index is not None:
        check_neighbours(model, index)


def _check_svr(model, width):
    """libsvm reads support vectors, their indices and coefficients by the counts it is
    given: each array agrees with the others and with the training shape."""
    state = _state(model)
    _choice(model, "kernel", KERNELS)
    if state.get("_sparse") is not False:
        raise ValueError("its SVR was fitted on sparse rows, which trackfit's models never are")
    shape = state.get("shape_fit_")
    if not isinstance(shape, tuple) or len(shape) != 2 or not all(map(_number, shape)) \
            or shape[1] != width or shape[0] < 1:
        raise ValueError(f"its SVR was fitted on rows of shape {shape!r}, the model reads "
                         f"{width} features")
    vectors = _array(model, "support_vectors_", (None, width))
    count = len(vectors)
    support = _array(model, "support_", (count,), kind="i")
    if count < 1 or support.min() < 0 or support.max() >= shape[0]:
        raise ValueError(f"its SVR's support_ holds {count} indices, not all of rows 0 to "
                         f"{shape[0] - 1}")
    counts = _array(model, "_n_support", (2,), kind="i")
    if counts.tolist() != [count, count]:
        raise ValueError(f"its SVR's _n_support is {counts.tolist()}, not [{count}, {count}]")
    for key in ("dual_coef_", "_dual_coef_"):
        _array(model, key, (1, count))
    for key in ("intercept_", "_intercept_"):
        _array(model, key, (1,))
    for key in ("_probA", "_probB"):
        _array(model, key, (0,))
    for key in ("_gamma", "coef0", "degree", "cache_size"):
        if not _number(state.get(key)) or not np.isfinite(state.get(key)):
            raise ValueError(f"its SVR's {key} is not a finite number")


def _children(left, right, inner, n, where):
    """Children in range, after their parent, every node but the root the child of one."""
    at = np.flatnonzero(inner)
    kids = np.concatenate([left[inner], right[inner]]).astype(np.int64)
    parents = np.concatenate([at, at])
    bad = (kids <= parents) | (kids >= n)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where} node {int(parents[first])} has child {int(kids[first])}, "
                         f"out of range or not after it ({n} nodes)")
    if not np.array_equal(np.bincount(kids, minlength=n)[1:], np.ones(n - 1, dtype=np.int64)):
        raise ValueError(f"{where} does not reach each of its {n} nodes exactly once from the root")


def _features(feature, width, where):
    """Every split's feature is a column of the rows: 0 to ``width`` - 1."""
    bad = feature[(feature < 0) | (feature >= width)]
    if bad.size:
        raise ValueError(f"{where} splits on feature {int(bad[0])}; the model's features "
                         f"are 0 to {width - 1}")


def check_tree(tree, width, where="the tree"):
    """One ``sklearn.tree._tree.Tree`` predict can walk on rows of ``width`` features."""
    n = int(tree.node_count)
    if n < 1:
        raise ValueError(f"{where} has no nodes")
    if int(tree.n_features) != width:
        raise ValueError(f"{where} reads {tree.n_features} features, the model {width}")
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    leaf = left == LEAF
    if not np.array_equal(leaf, right == LEAF):
        raise ValueError(f"{where} has a node with only one child")
    inner = ~leaf
    _children(left, right, inner, n, where)
    _features(np.asarray(tree.feature)[inner], width, where)
    if not np.isfinite(np.asarray(tree.threshold)[inner]).all():
        raise ValueError(f"{where} has a threshold that is not a finite number")
    value = np.asarray(tree.value)
    if int(tree.n_outputs) != 1 or value.shape != (n, 1, 1):
        raise ValueError(f"{where} predicts values of shape {value.shape[1:]}, not one number")
    if not np.isfinite(value).all():
        raise ValueError(f"{where} has a value that is not a finite number")


def check_predictor(predictor, width, where="the tree"):
    """One hist-gb ``TreePredictor`` on rows of ``width`` features, numeric splits only."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    nodes = getattr(predictor, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE \
            or nodes.ndim != 1:
        raise ValueError(f"{where}'s nodes are not scikit-learn's node records")
    n = len(nodes)
    if n < 1:
        raise ValueError(f"{where} has no nodes")
    inner = ~nodes["is_leaf"].astype(bool)
    _children(nodes["left"], nodes["right"], inner, n, where)
    _features(nodes["feature_idx"][inner], width, where)
    if nodes["is_categorical"][inner].any():
        raise ValueError(f"{where} splits on categories, which trackfit's models never do")
    if np.isnan(nodes["num_threshold"][inner]).any():
        raise ValueError(f"{where} has a threshold that is not a number")
    if not np.isfinite(nodes["value"]).all():
        raise ValueError(f"{where} has a value that is not a finite number")


def check_neighbours(model, index):
    """The KDTree or BallTree of ``model`` is the one scikit-learn builds from its rows."""
    state = index.__getstate__()
    data = np.asarray(state[0])
    rows = getattr(model, "_fit_X", None)
    if not isinstance(rows, np.ndarray) or data.shape != rows.shape \
            or not np.array_equal(data, rows) or not np.isfinite(data).all():
        raise ValueError("its neighbours index does not hold the model's training rows")
    if len(np.asarray(getattr(model, "_y", ()))) != len(rows):
        raise ValueError("its neighbours have a different number of targets than rows")
    try:
        rebuilt = type(index)(rows, leaf_size=model.leaf_size, metric=model.effective_metric_,
                              **(model.effective_metric_params_ or {}))
    except Exception as exc:  # noqa: BLE001 - a crafted metric or leaf size
        raise ValueError(f"its neighbours index cannot be rebuilt ({type(exc).__name__})") from None
    fresh = rebuilt.__getstate__()
    same = all(_equal(a, b) for at, (a, b) in enumerate(zip(state, fresh))
               if at < 7 or at > 11)  # 7-10 count queries; the metric is compared below
    metric, own = state[11], fresh[11]
    same = same and len(state) == len(fresh) and type(metric) is type(own) and all(
        _equal(a, b) for a, b in zip(metric.__getstate__(), own.__getstate__()))
    if not same:
        raise ValueError("its neighbours index is not the one its training rows build")


def _equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


# The preprocessing: a Pipeline of steps (a ColumnTransformer of imputers, encoders, a
# scaler and DateParts, trackfit.estimators.preprocessing) before the estimator. Each step is
# walked by its rule below, which returns the width it passes on: the next step reads it.
# scikit-learn's transforms index with numpy and check what they index, except the
# OneHotEncoder, whose codes become the column indices of a sparse matrix its dense output is
# copied from unchecked (a code past its width wrote past the array: exit 139).
UNKNOWN = {"OneHotEncoder": ("error", "ignore", "infrequent_if_exist", "warn"),
           "OrdinalEncoder": ("error", "use_encoded_value")}
STRATEGIES = ("mean", "median", "most_frequent", "constant")
OUTPUTS = ("default", "pandas")  # what set_output may have asked a step for
CHECKED = "checked by the class's rule"  # in a step's rule: its check reads the attribute
_STEPS = {}


def _is_pipeline(model):
    from sklearn.pipeline import Pipeline

    return type(model) is Pipeline


def prepared(model):
    """Walk the Pipeline ``model``'s steps before its estimator: (the estimator, the width
    those steps pass on to it)."""
    steps = _pipeline_steps(model, "its Pipeline")
    if len(steps) < 2:
        raise ValueError("its Pipeline holds no preprocessing before its estimator")
    width = _input_width(steps[0][1], "its Pipeline's first step")
    for name, step in steps[:-1]:
        width = _step(step, width, f"its step {name}")
    return steps[-1][1], width


def _input_width(step, where):
    width = _state(step).get("n_features_in_")
    if not _count(width) or width < 1:
        raise ValueError(f"{where} has no number of input features (n_features_in_)")
    return int(width)


def _count(value):
    return _number(value) and float(value).is_integer() and value >= 0


def _pipeline_steps(pipeline, where):
    """The ``steps`` of a fitted Pipeline: (name, object) pairs, names unique, and nothing
    else in it but its parameters (no memory: a cache folder is read with pickle)."""
    state = _state(pipeline)
    extra = sorted(set(state) - {"steps", "transform_input", "memory", "verbose",
                                 "_sklearn_output_config"})
    if extra:
        raise ValueError(f"{where} holds '{extra[0]}', which scikit-learn's Pipeline never "
                         "does")
    if state.get("memory") is not None or state.get("transform_input") is not None:
        raise ValueError(f"{where} caches or routes its steps (memory, transform_input), "
                         "which trackfit's models never do")
    _output(pipeline, where)
    if not _plain(state.get("verbose")):
        raise ValueError(f"{where}'s verbose is not plain data")
    steps = state.get("steps")
    if type(steps) not in (list, tuple) or not steps or not all(
            type(step) in (list, tuple) and len(step) == 2 and isinstance(step[0], str)
            for step in steps):
        raise ValueError(f"{where}'s steps are not a list of (name, step) pairs")
    names = [name for name, _ in steps]
    if len(set(names)) != len(names):
        raise ValueError(f"{where} names two steps alike")
    return [tuple(step) for step in steps]


def _output(obj, where):
    config = _state(obj).get("_sklearn_output_config")
    if config is None:
        return
    if type(config) is not dict or not all(isinstance(key, str) and value in OUTPUTS
                                           for key, value in config.items()):
        raise ValueError(f"{where} asks for output {config!r}, not one of "
                         f"{', '.join(OUTPUTS)}")


def _step(step, width, where):
    """Walk one fitted step reading ``width`` features: the width it passes on."""
    rules = _step_rules()
    kind = type(step)
    if kind not in rules:
        raise ValueError(f"{where} is a {_name(kind)}, which trackfit's preprocessing never "
                         "holds")
    attributes, check = rules[kind]
    if attributes is None:  # a Pipeline: its steps say it all
        return check(step, width, where)
    state = _state(step)
    own = state.get("n_features_in_")
    if not _count(own):
        raise ValueError(f"{where}, a {kind.__name__}, was never fitted")
    if own != width:
        raise ValueError(f"{where}, a {kind.__name__}, reads {own} features; it is given "
                         f"{width}")
    _step_attributes(step, attributes, where)
    names = state.get("feature_names_in_")
    if names is not None and (not isinstance(names, np.ndarray) or names.shape != (width,)
                              or not all(isinstance(n, str) for n in names.tolist())):
        raise ValueError(f"{where}'s feature_names_in_ are not {width} column names")
    _reset_jobs(step)
    out = check(step, width, where)
    if not _count(out):
        raise ValueError(f"{where} passes on {out!r} features")
    return int(out)


def _step_attributes(step, attributes, where):
    """Every attribute of ``step`` is a parameter of its class or a fitted one its rule
    names; plain data unless its rule's check reads it."""
    kind = type(step)
    params = _params(kind)
    for key, value in _state(step).items():
        allowed = attributes.get(key, PLAIN if key in params else None)
        if allowed is None:
            raise ValueError(f"{where}, a {kind.__name__}, holds '{key}', which scikit-learn's "
                             f"{kind.__name__} never does")
        if allowed == PLAIN and not _plain(value):
            raise ValueError(f"{where}'s {key} holds a {_name(type(value))}, which "
                             f"scikit-learn never puts there")
    _output(step, where)


def _template(obj, where, depth=0):
    """An unfitted step a ColumnTransformer or Pipeline keeps as given (its ``transformers``,
    a template's ``steps``): of a preprocessing class, holding its parameters only."""
    if isinstance(obj, str) and obj in ("drop", "passthrough"):
        return
    kind = type(obj)
    if kind not in _step_rules() or depth > 8:
        raise ValueError(f"{where} holds a {_name(kind)}, which trackfit's preprocessing "
                         "never holds")
    params = _params(kind)
    for key, value in _state(obj).items():
        if key not in params and key != "_sklearn_output_config":
            raise ValueError(f"{where}, a {kind.__name__} kept as given, holds '{key}'")
        if key in ("steps", "transformers") and type(value) in (list, tuple):
            for entry in value:
                if type(entry) not in (list, tuple) or len(entry) not in (2, 3):
                    raise ValueError(f"{where}'s {key} are not (name, step, ...) entries")
                if not _plain(entry[0]) or not all(map(_selection, entry[2:])):
                    raise ValueError(f"{where}'s {key} name or select objects")
                _template(entry[1], where, depth + 1)
        elif key == "dtype":
            _dtype_type(obj, where)
        elif not _plain(value):
            raise ValueError(f"{where}'s {key} holds a {_name(type(value))}, which "
                             "scikit-learn never puts there")
    _output(obj, where)


def _step_rules():
    """{class: ({fitted attribute: PLAIN or CHECKED}, check(step, width, where) -> width)}."""
    if not _STEPS:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

        from .preprocessing import DateParts

        fitted = {"n_features_in_": PLAIN, "feature_names_in_": CHECKED,
                  "_sklearn_output_config": CHECKED}
        encoder = dict(fitted, categories_=CHECKED, dtype=CHECKED, _infrequent_enabled=PLAIN,
                       _infrequent_indices=CHECKED, _default_to_infrequent_mappings=CHECKED)
        _STEPS.update({
            Pipeline: (None, _check_steps),
            ColumnTransformer: (dict(fitted, transformers=CHECKED, _columns=CHECKED,
                                     _transformer_to_input_indices=CHECKED,
                                     _remainder=CHECKED, sparse_output_=PLAIN,
                                     transformers_=CHECKED, output_indices_=CHECKED),
                                _check_columns),
            SimpleImputer: (dict(fitted, statistics_=CHECKED, _fit_dtype=CHECKED,
                                 _fill_dtype=CHECKED, indicator_=PLAIN), _check_imputer),
            OneHotEncoder: (dict(encoder, drop_idx_=CHECKED, _drop_idx_after_grouping=CHECKED,
                                 _n_features_outs=PLAIN), _check_one_hot),
            OrdinalEncoder: (dict(encoder, _missing_indices=PLAIN), _check_ordinal),
            StandardScaler: (dict(fitted, mean_=PLAIN, var_=PLAIN, scale_=PLAIN,
                                  n_samples_seen_=PLAIN), _check_scaler),
            DateParts: (fitted, _check_dates),
        })
    return _STEPS


def _check_steps(pipeline, width, where):
    """A Pipeline inside a ColumnTransformer: its steps in turn. (Its ``n_features_in_`` is
    its first step's: a Pipeline's own is a property, never stored.)"""
    for name, step in _pipeline_steps(pipeline, where):
        width = _step(step, width, f"{where}.{name}")
    return width


def _dtype(step, key, where, kinds="fiubOUS"):
    value = _state(step).get(key)
    if not isinstance(value, np.dtype) or value.kind not in kinds or value.fields \
            or value.subdtype is not None:
        raise ValueError(f"{where}'s {key} is {value!r}, not a dtype of numbers or text")


def _dtype_type(step, where):
    """An encoder's output ``dtype``: a number type."""
    value = _state(step).get("dtype")
    try:
        ok = isinstance(value, type) and np.dtype(value).kind in "fiu" \
            or isinstance(value, np.dtype) and value.kind in "fiu" and not value.fields
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{where}'s dtype is {value!r}, not a number type")


def _check_dates(step, width, where):
    from .preprocessing import PARTS

    return len(PARTS) * width


def _check_scaler(step, width, where):
    state = _state(step)
    for key in ("with_mean", "with_std", "copy"):
        if not isinstance(state.get(key), (bool, np.bool_)):
            raise ValueError(f"{where}'s {key} is not True or False")
    for key, needed in (("mean_", state["with_mean"]), ("scale_", state["with_std"]),
                        ("var_", state["with_std"])):
        if state.get(key) is not None or needed:
            _array(step, key, (width,))
    scale = state.get("scale_")
    if scale is not None and (scale == 0).any():
        raise ValueError(f"{where}'s scale_ holds a zero")
    seen = state.get("n_samples_seen_")
    if not (_count(seen) or isinstance(seen, np.ndarray) and seen.shape == (width,)
            and seen.dtype.kind in "iu"):
        raise ValueError(f"{where}'s n_samples_seen_ is not a count of rows")
    return width


def _missing(value):
    return value is None or isinstance(value, (float, np.floating)) and np.isnan(value)


def _check_imputer(step, width, where):
    """Fill values, one per column; a column whose fill value is NaN is dropped (sklearn's
    own rule for a column never seen filled), unless ``keep_empty_features``."""
    state = _state(step)
    _choice(step, "strategy", STRATEGIES)
    if state.get("add_indicator") is not False or state.get("indicator_") is not None:
        raise ValueError(f"{where} adds missing-value indicators, which trackfit's models "
                         "never do")
    if not isinstance(state.get("keep_empty_features"), (bool, np.bool_)):
        raise ValueError(f"{where}'s keep_empty_features is not True or False")
    for key in ("_fit_dtype", "_fill_dtype"):
        _dtype(step, key, where)
    stats = state.get("statistics_")
    if not isinstance(stats, np.ndarray) or stats.shape != (width,) \
            or stats.dtype.kind not in "fiuO":
        shown = f"{stats.dtype} {stats.shape}" if isinstance(stats, np.ndarray) \
            else type(stats).__name__
        raise ValueError(f"{where}'s statistics_ is {shown}, not {width} fill values, one per "
                         "column it reads")
    values = stats.tolist()
    if stats.dtype.kind == "O" and not all(isinstance(v, (str, int, float)) and
                                           not isinstance(v, bool) or v is None
                                           for v in values):
        raise ValueError(f"{where}'s statistics_ are not numbers or text")
    if state["keep_empty_features"]:
        return width
    return sum(not (isinstance(v, float) and v != v) for v in values)


def _categories(step, width, where):
    """``categories_``: one array per column, values unique and sorted (a missing value
    last), as fit makes them: numbers are coded by a binary search of them."""
    cats = _state(step).get("categories_")
    if type(cats) is not list or len(cats) != width:
        raise ValueError(f"{where}'s categories_ are not {width} arrays, one per column")
    sizes = []
    for at, values in enumerate(cats):
        if not isinstance(values, np.ndarray) or values.ndim != 1 or not len(values) \
                or values.dtype.kind not in "biufOU":
            raise ValueError(f"{where}'s categories of column {at} are not an array of values")
        items = values.tolist()
        known = items[:-1] if _missing(items[-1]) else items
        numbers = values.dtype.kind in "biuf"
        if not all((_number(v) or isinstance(v, bool)) if numbers else isinstance(v, str)
                   for v in known):
            raise ValueError(f"{where}'s categories of column {at} mix numbers, text or "
                             "objects")
        if any(_missing(v) for v in known) or any(a >= b for a, b in zip(known, known[1:])):
            raise ValueError(f"{where}'s categories of column {at} are not unique and sorted")
        sizes.append(len(items))
    return cats, sizes


def _indices(value, size, where):
    """An int array of distinct indices below ``size``."""
    if not isinstance(value, np.ndarray) or value.ndim != 1 or value.dtype.kind not in "iu" \
            or not len(value) or value.min() < 0 or value.max() >= size \
            or len(np.unique(value)) != len(value):
        raise ValueError(f"{where} are not distinct indices below {size}")
    return value


def _groups(step, cats, sizes, where, missing_apart=False):
    """The codes each column's categories map to after infrequent ones are grouped: for
    column i, (the highest code any input may have, how many codes there are).
    ``missing_apart``: an OrdinalEncoder's missing category is coded apart, unmapped."""
    state = _state(step)
    enabled = state.get("_infrequent_enabled")
    if not isinstance(enabled, (bool, np.bool_)):
        raise ValueError(f"{where}'s _infrequent_enabled is not True or False")
    plain = [(size - 1, size) for size in sizes]  # (the highest code, the count)
    if not enabled:
        if not all(_plain(state.get(key)) for key in ("_infrequent_indices",
                                                      "_default_to_infrequent_mappings")):
            raise ValueError(f"{where}'s infrequent categories are not plain data")
        return plain
    lists = [state.get("_infrequent_indices"), state.get("_default_to_infrequent_mappings")]
    if not all(type(value) is list and len(value) == len(sizes) for value in lists):
        raise ValueError(f"{where}'s infrequent categories are not listed for each of its "
                         f"{len(sizes)} columns")
    groups = []
    for at, (rare, mapping) in enumerate(zip(*lists)):
        if (rare is None) != (mapping is None):
            raise ValueError(f"{where}'s column {at} has infrequent categories without a "
                             "mapping, or a mapping without them")
        if rare is None:
            groups.append(plain[at])
            continue
        size = sizes[at] - (missing_apart and _missing(cats[at].tolist()[-1]))
        _indices(rare, size, f"{where}'s infrequent categories of column {at}")
        count = sizes[at] - len(rare) + 1
        if not isinstance(mapping, np.ndarray) or mapping.shape != (size,) \
                or mapping.dtype.kind not in "iu" or mapping.min() < 0 \
                or mapping.max() >= count:
            shown = (f"{mapping.dtype} {mapping.shape} up to {mapping.max()}"
                     if isinstance(mapping, np.ndarray) and mapping.size
                     else type(mapping).__name__)
            raise ValueError(f"{where}'s _default_to_infrequent_mappings for column {at} is "
                             f"{shown}, not {size} codes below {count}, the columns it "
                             "encodes to")
        groups.append((int(mapping.max()), count))
    return groups


def _check_one_hot(step, width, where):
    """Each column's codes, after grouping and the dropped category, stay below the number
    of output columns it claims (``_n_features_outs``): the dense output is copied from a
    sparse matrix built with those codes as its column indices, unchecked."""
    state = _state(step)
    _choice(step, "handle_unknown", UNKNOWN["OneHotEncoder"])
    _choice(step, "feature_name_combiner", ("concat",))
    if not isinstance(state.get("sparse_output"), (bool, np.bool_)):
        raise ValueError(f"{where}'s sparse_output is not True or False")
    _dtype_type(step, where)
    cats, sizes = _categories(step, width, where)
    groups = _groups(step, cats, sizes, where)
    drops = state.get("_drop_idx_after_grouping")
    public = state.get("drop_idx_")
    for key, value in (("_drop_idx_after_grouping", drops), ("drop_idx_", public)):
        if value is not None and (not isinstance(value, np.ndarray) or value.shape != (width,)
                                  or not all(v is None or _count(v) for v in value.tolist())):
            raise ValueError(f"{where}'s {key} is not one category or None per column")
    if (drops is None) != (public is None) or (state.get("drop") is None) != (drops is None):
        raise ValueError(f"{where} drops categories by some of drop, drop_idx_ and "
                         "_drop_idx_after_grouping but not all")
    outs = state.get("_n_features_outs")
    if type(outs) is not list or len(outs) != width or not all(map(_count, outs)):
        raise ValueError(f"{where}'s _n_features_outs is not a count of output columns for "
                         f"each of its {width} columns")
    for at, ((highest, count), out) in enumerate(zip(groups, outs)):
        drop = None if drops is None else drops[at]
        if drop is not None and (drop >= count or public[at] is None
                                 or public[at] >= sizes[at]):
            raise ValueError(f"{where} drops category {drop} of column {at}, which has "
                             f"{count}")
        if out != count - (drop is not None) or highest - (drop is not None) >= out:
            raise ValueError(f"{where}'s column {at} encodes to "
                             f"{count - (drop is not None)} columns, not the {out} it claims")
    return int(sum(outs))


def _check_ordinal(step, width, where):
    state = _state(step)
    _choice(step, "handle_unknown", UNKNOWN["OrdinalEncoder"])
    _dtype_type(step, where)
    cats, sizes = _categories(step, width, where)
    _groups(step, cats, sizes, where, missing_apart=True)
    missing = state.get("_missing_indices")
    if type(missing) is not dict or not all(
            _count(column) and column < width and _count(at) and at < sizes[int(column)]
            for column, at in missing.items()):
        raise ValueError(f"{where}'s _missing_indices are not columns and categories it has")
    for key in ("unknown_value", "encoded_missing_value"):
        value = state.get(key)
        if value is not None and not _number(value):
            raise ValueError(f"{where}'s {key} is not a number")
    return width


def _selection(columns):
    """Plain data, or a slice of plain data: what selects a ColumnTransformer's columns."""
    if isinstance(columns, slice):
        return all(_plain(edge) for edge in (columns.start, columns.stop, columns.step))
    return _plain(columns)


def _selected(columns, width, names, where):
    """The input columns a ColumnTransformer's selection names: indices in 0..width-1."""
    if isinstance(columns, slice):
        edges = (columns.start, columns.stop)
        if columns.step not in (None, 1) or not all(
                edge is None or _count(edge) and edge <= width
                or isinstance(edge, str) and names and edge in names for edge in edges):
            raise ValueError(f"{where} selects columns {columns!r}, not a slice of its "
                             f"{width} columns")
        if any(isinstance(edge, str) for edge in edges):  # by name: both ends included
            start = 0 if edges[0] is None else names.index(edges[0])
            stop = width if edges[1] is None else names.index(edges[1]) + 1
            return list(range(start, stop))
        return list(range(width))[columns]
    many = columns.tolist() if isinstance(columns, np.ndarray) else columns
    many = list(many) if type(many) in (list, tuple) else [many]
    if many and all(isinstance(c, (bool, np.bool_)) for c in many):
        if len(many) != width:
            raise ValueError(f"{where} selects columns by a mask of {len(many)}, not {width}")
        return [at for at, keep in enumerate(many) if keep]
    found = []
    for column in many:
        if isinstance(column, str):
            if not names or column not in names:
                raise ValueError(f"{where} selects column '{column}', which is not one of "
                                 "its input columns")
            found.append(names.index(column))
        elif _count(column) and not isinstance(column, (bool, np.bool_)) and column < width:
            found.append(int(column))
        else:
            raise ValueError(f"{where} selects column {column!r}; its input columns are 0 "
                             f"to {width - 1}")
    return found


def _check_columns(step, width, where):
    """Each transformer reads columns of the input, as many as it was fitted on; the
    output is theirs side by side, at the offsets ``output_indices_`` records."""
    state = _state(step)
    _check_column_settings(state, where)
    names = state.get("feature_names_in_")
    names = names.tolist() if names is not None else None
    fitted, inputs, offsets = _fitted_columns(state, where)
    at = 0
    for label, transformer, columns in fitted:
        part = f"{where}.{label}"
        if not _selection(columns):
            raise ValueError(f"{part} selects columns by a {_name(type(columns))}")
        chosen = _selected(columns, width, names, part)
        if type(inputs[label]) is not list or inputs[label] != chosen:
            raise ValueError(f"{part} reads columns {inputs[label]!r}, not the {chosen!r} "
                             "it selects")
        if transformer == "drop" or not chosen:
            if not isinstance(transformer, str) and not chosen:
                raise ValueError(f"{part} selects no columns")
            out = 0
        elif isinstance(transformer, str):
            raise ValueError(f"{part} is {transformer!r}, not a transformer or 'drop'")
        else:
            out = _step(transformer, len(chosen), part)
        span = offsets[label]
        want = slice(at, at + out) if out else slice(0, 0)
        if type(span) is not slice or (span.start, span.stop, span.step) != \
                (want.start, want.stop, None):
            raise ValueError(f"{part}'s output_indices_ are {span!r}, not {want!r}: its "
                             f"{out} columns at {at}")
        at += out
    return at


def _check_column_settings(state, where):
    """A ColumnTransformer's settings are ones trackfit's models use: no remainder passed
    through, no weights, plain (name, transformer, columns) entries and selections."""
    if state.get("remainder") != "drop" or type(state.get("_remainder")) is not tuple \
            or state["_remainder"][:2] != ("remainder", "drop"):
        raise ValueError(f"{where} passes columns it does not transform through "
                         "(remainder), which trackfit's models never do")
    threshold = state.get("sparse_threshold")
    if not _number(threshold) or not 0 <= threshold <= 1:
        raise ValueError(f"{where}'s sparse_threshold is {threshold!r}, not between 0 and 1")
    if not isinstance(state.get("sparse_output_"), (bool, np.bool_)):
        raise ValueError(f"{where}'s sparse_output_ is not True or False")
    if state.get("transformer_weights") is not None:
        raise ValueError(f"{where} weighs its transformers, which trackfit's models never do")
    given = state.get("transformers")
    if type(given) not in (list, tuple):
        raise ValueError(f"{where}'s transformers are not a list")
    for entry in given:
        if type(entry) not in (list, tuple) or len(entry) != 3 or not _plain(entry[0]) \
                or not _selection(entry[2]):
            raise ValueError(f"{where}'s transformers are not (name, transformer, columns)")
        _template(entry[1], f"{where}'s transformer {entry[0]}")
    if type(state.get("_columns")) is not list or not all(map(_selection, state["_columns"])) \
            or not _plain(state["_remainder"][2:]):
        raise ValueError(f"{where}'s column selections are not plain data")


def _fitted_columns(state, where):
    """(``transformers_``, the input indices and the output offsets of each, by name),
    checked to name the same transformers, each once."""
    fitted = state.get("transformers_")
    if type(fitted) is not list or not fitted or not all(
            type(entry) is tuple and len(entry) == 3 and isinstance(entry[0], str)
            for entry in fitted):
        raise ValueError(f"{where}'s transformers_ are not (name, transformer, columns)")
    labels = [entry[0] for entry in fitted]
    if len(set(labels)) != len(labels):
        raise ValueError(f"{where} names two transformers alike")
    inputs = state.get("_transformer_to_input_indices")
    offsets = state.get("output_indices_")
    if "remainder" not in labels and type(inputs) is dict and type(offsets) is dict \
            and inputs.get("remainder") == [] and offsets.get("remainder") == slice(0, 0):
        # every column selected: scikit-learn lists an empty remainder in the indices only
        inputs = {k: v for k, v in inputs.items() if k != "remainder"}
        offsets = {k: v for k, v in offsets.items() if k != "remainder"}
    if type(inputs) is not dict or sorted(inputs, key=str) != sorted(labels) \
            or type(offsets) is not dict or sorted(offsets, key=str) != sorted(labels):
        raise ValueError(f"{where}'s input and output indices do not list its transformers")
    return fitted, inputs, offsets
