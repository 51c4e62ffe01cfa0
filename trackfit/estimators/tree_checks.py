"""The built-in estimators' check of what skops calls unsafe: tree nodes, neighbour indexes.

skops loads a ``sklearn.tree._tree.Tree``, a hist-gb ``TreePredictor`` or a ``KDTree`` only
because the built-ins trust those types, and scikit-learn's compiled predict then follows
the node arrays it was given without bounds checks: a child index out of range reads and
writes outside the arrays and kills the process. ``validate(model)`` runs after loading and
before the first predict, and raises ValueError naming the first problem it finds:

- every node a child points to exists (or is the leaf marker -1), each node is reached once
  from the root and children come after their parent, as scikit-learn numbers them, so
  there is no cycle;
- every split's feature is a column of the rows (0 to the model's ``n_features_in_`` - 1),
  every estimator that holds a tree reads the model's own number of features, and a hist-gb
  model reads its rows as given (no preprocessor choosing the columns its trees see);
- a boosting regressor has one tree per stage and an initial prediction of one value per
  row (scikit-learn's compiled loop writes each stage's k-th tree into output column k);
  that prediction runs the initial estimator, so it is made last, once everything in the
  model has passed;
- thresholds and values are finite (a hist-gb split may send only missing values one way:
  its threshold is +inf);
- a neighbours index (KDTree, BallTree) is exactly the one scikit-learn builds from the
  model's own training rows.

Any such object found where this check does not know how it is used (a tree inside an
estimator of another kind) is refused too.
"""

import numpy as np

LEAF = -1  # sklearn.tree._tree.TREE_LEAF


def validate(model):
    """Raise ValueError unless every tree and index inside ``model`` is one predict can walk."""
    width = getattr(model, "n_features_in_", None)
    if not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError("the model has no number of input features (n_features_in_)")
    width = int(width)
    seen, done, boosted = set(), set(), []
    for obj in _objects(model, seen):
        _check_owner(obj, width, done, boosted)
    unchecked = [obj for obj in _objects(model, set()) if _needs_check(obj) and id(obj) not in done]
    if unchecked:
        kind = type(unchecked[0])
        raise ValueError(f"it holds a {kind.__module__}.{kind.__qualname__} where trackfit's "
                         "check does not expect one")
    for booster in boosted:  # predicts with its initial estimator: only once all is checked
        _check_start(booster, width)


def _objects(root, seen):
    """Every object reachable from ``root`` through attributes, containers and object arrays."""
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())


def _needs_check(obj):
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.metrics import DistanceMetric
    from sklearn.neighbors import BallTree, KDTree
    from sklearn.tree._tree import Tree

    return isinstance(obj, (Tree, TreePredictor, KDTree, BallTree, DistanceMetric))


def _check_owner(obj, width, done, boosted):
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.neighbors import BallTree, KDTree
    from sklearn.tree._tree import Tree

    attrs = vars(obj) if hasattr(obj, "__dict__") else {}
    tree = attrs.get("tree_")
    if isinstance(tree, Tree):
        _same_width(obj, width)
        check_tree(tree, width)
        done.add(id(tree))
    if isinstance(obj, GradientBoostingRegressor) and "estimators_" in attrs:
        _check_stages(obj, attrs["estimators_"])
        boosted.append(obj)
    if "_predictors" in attrs:
        _same_width(obj, width)
        if attrs.get("_preprocessor") is not None:  # it decides how many columns trees see
            raise ValueError("its hist-gb model transforms its input first (a categorical "
                             "preprocessor), which trackfit's models never do")
        _check_bins(attrs.get("_bin_mapper"))
        for stage, predictors in enumerate(attrs["_predictors"]):
            for k, predictor in enumerate(predictors):
                check_predictor(predictor, width, f"tree {stage}.{k}")
                done.add(id(predictor))
    index = attrs.get("_tree")
    if isinstance(index, (KDTree, BallTree)):
        _same_width(obj, width)
        check_neighbours(obj, index)
        done.add(id(index))
        done.add(id(index.__getstate__()[11]))


def _same_width(obj, width):
    own = getattr(obj, "n_features_in_", None)
    if own != width:
        raise ValueError(f"its {type(obj).__name__} reads {own} features, the model {width}")


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
    if not np.isfinite(np.asarray(tree.value)).all():
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


def _check_stages(model, stages):
    """A regressor's boosting adds one tree per stage into one output column: scikit-learn's
    compiled loop writes column k of each stage's k-th tree without a bounds check."""
    per = getattr(model, "n_trees_per_iteration_", None)
    if per != 1 or not isinstance(stages, np.ndarray) or stages.ndim != 2 \
            or stages.shape[1] != 1:
        raise ValueError("its boosting stages are not one tree per stage, as a regressor's are")


def _check_start(model, width):
    """The initial prediction, one value per row, that the stages add to. It runs the
    initial estimator's predict: called only once every tree and index in the model passed."""
    try:
        start = model._raw_predict_init(np.zeros((1, width)))  # numpy: the init estimator
    except Exception as exc:  # noqa: BLE001 - a crafted init estimator
        raise ValueError(f"its initial prediction fails ({type(exc).__name__})") from None
    if np.shape(start) != (1, 1):
        raise ValueError(f"its initial prediction has shape {np.shape(start)[1:]} per row, "
                         "not one value")


def _check_bins(mapper):
    categorical = getattr(mapper, "is_categorical_", None)
    if categorical is not None and np.asarray(categorical).any():
        raise ValueError("its hist-gb features are categorical, which trackfit's models never are")


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
