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

    ``declared``: type names the model's plugin declares; objects of those types are left to
    its validate, which ``vouched`` says it gives.
    """
    rules = known()
    if type(model) in rules:
        _visit(model, _width(model), rules)
        return
    name = _name(type(model))
    if name in declared:  # the plugin's own class, declared: its validate checks all of it
        if not vouched:
            raise ValueError(f"it is a {name}, which its plugin declares without a validate check")
        _reset_jobs(model)
        return
    width = getattr(model, "n_features_in_", None)
    for key, value in _state(model).items():
        _foreign(value, width, declared, vouched, rules, f"its {key}")
    _reset_jobs(model)


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
