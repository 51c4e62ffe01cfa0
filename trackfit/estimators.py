"""The estimators that ship with trackfit: scikit-learn regressors, as an ordinary plugin.

Loaded through trackfit's own entry point (group ``trackfit``, name ``scikit_learn``), like
any plugin package.
"""

import pluggy

from . import __version__  # noqa: F401  the built-ins are versioned with trackfit

hookimpl = pluggy.HookimplMarker("trackfit")

# Types skops must be told to trust to load these models (it trusts plain scikit-learn
# estimators already). tests/test_estimators.py round-trips every model to keep this true.
TREE = ["sklearn.tree._tree.Tree"]
HIST_GB = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
NEIGHBOURS = [
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
]


@hookimpl
def register_estimators(register):
    register("linear", "sklearn.linear_model:LinearRegression",
             description="Ordinary least squares (the lab's first model)")
    register("tree", "sklearn.tree:DecisionTreeRegressor", defaults={"max_depth": 5},
             description="Decision tree, depth 5 as in the lab", trusted_types=TREE)
    register("ridge", "sklearn.linear_model:Ridge", description="Least squares with an L2 penalty")
    register("lasso", "sklearn.linear_model:Lasso", description="Least squares with an L1 penalty")
    register("elasticnet", "sklearn.linear_model:ElasticNet",
             description="Least squares with L1 and L2 penalties")
    register("knn", "sklearn.neighbors:KNeighborsRegressor",
             description="k nearest neighbours, mean of their targets",
             trusted_types=NEIGHBOURS)
    register("svr", "sklearn.svm:SVR", description="Support vector regression, RBF kernel")
    register("forest", "sklearn.ensemble:RandomForestRegressor",
             description="Random forest of 100 trees", trusted_types=TREE)
    register("extra-trees", "sklearn.ensemble:ExtraTreesRegressor",
             description="Extremely randomised trees, 100 of them", trusted_types=TREE)
    register("gbr", "sklearn.ensemble:GradientBoostingRegressor",
             description="Gradient boosting of 100 depth-3 trees", trusted_types=TREE)
    register("hist-gb", "sklearn.ensemble:HistGradientBoostingRegressor",
             description="Histogram-based gradient boosting", trusted_types=HIST_GB)
    register("dummy", "sklearn.dummy:DummyRegressor",
             description="Predicts the training mean: the baseline to beat")
