"""The estimators that ship with trackfit: scikit-learn regressors, as an ordinary plugin.

Loaded through trackfit's own entry point (group ``trackfit``, name ``scikit_learn``), like
any plugin package.
"""

from .. import __version__  # noqa: F401  the built-ins are versioned with trackfit
from .. import hookimpl

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
# The preprocessing every logged model holds before its estimator (a Pipeline of a
# ColumnTransformer of these; trackfit.estimators.preprocessing builds them): trackfit.trust
# trusts them for every estimator's models, as if each plugin declared them, and the walk
# (trackfit.estimators.checks) checks each. numpy.dtype is an encoder's output dtype.
# tests/test_trust_pipeline.py round-trips pipelines of every kind to keep this list exact.
PREPROCESSING = [
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "trackfit.estimators.preprocessing.DateParts",
    "numpy.dtype",
]


# Those types are ones skops calls unsafe: scikit-learn's compiled predict follows their
# arrays without bounds checks. Every model these estimators build is a class whose rule
# trackfit.estimators.checks knows, so the walk every loaded model passes checks them all:
# they need no validate of their own.


# On a table other than the lab's, every model is a pipeline: numbers scaled first for the
# estimators that say ``scaling`` (fitting.pipeline), text one-hot encoded unless the
# estimator takes ``categories="ordinal"`` (the trees: one column of codes per text column,
# so each split weighs a few columns, not one per value) or ``"native"`` (hist-gb: ordinal
# codes, its own categorical splits). The lab's models stay the bare estimators.

# What `tune` searches when no space is given: the hyperparameters that move these models
# most on data of the lab's size (hundreds of rows, unscaled features, a target near 150).
ALPHA = {"alpha": "loguniform(1e-3,100)"}
TREES = {"n_estimators": "int(50,300)", "max_depth": "2|4|8|16|none",
         "min_samples_leaf": "int(1,20)", "max_features": "uniform(0.2,1.0)"}


@hookimpl
def register_estimators(register):
    register("linear", "sklearn.linear_model:LinearRegression", scaling=True,
             description="Ordinary least squares (the lab's first model)")
    register("tree", "sklearn.tree:DecisionTreeRegressor", defaults={"max_depth": 5},
             description="Decision tree, depth 5 as in the lab", trusted_types=TREE,
             categories="ordinal",
             search_space={"max_depth": "int(2,12)", "min_samples_leaf": "int(1,30)",
                           "max_features": "uniform(0.2,1.0)"})
    register("ridge", "sklearn.linear_model:Ridge", scaling=True,
             description="Least squares with an L2 penalty", search_space=ALPHA)
    register("lasso", "sklearn.linear_model:Lasso", scaling=True,
             description="Least squares with an L1 penalty", search_space=ALPHA)
    register("elasticnet", "sklearn.linear_model:ElasticNet", scaling=True,
             description="Least squares with L1 and L2 penalties",
             search_space={**ALPHA, "l1_ratio": "uniform(0.05,1.0)"})
    register("knn", "sklearn.neighbors:KNeighborsRegressor", scaling=True,
             description="k nearest neighbours, mean of their targets",
             trusted_types=NEIGHBOURS,
             search_space={"n_neighbors": "int(1,50)", "weights": "uniform|distance",
                           "p": "1|2"})
    register("svr", "sklearn.svm:SVR", scaling=True,
             description="Support vector regression, RBF kernel",
             search_space={"C": "loguniform(0.1,10000)", "epsilon": "loguniform(0.01,10)",
                           "gamma": "scale|auto"})
    register("forest", "sklearn.ensemble:RandomForestRegressor",
             description="Random forest of 100 trees", trusted_types=TREE,
             categories="ordinal", search_space=TREES)
    register("extra-trees", "sklearn.ensemble:ExtraTreesRegressor",
             description="Extremely randomised trees, 100 of them", trusted_types=TREE,
             categories="ordinal", search_space=TREES)
    register("gbr", "sklearn.ensemble:GradientBoostingRegressor",
             description="Gradient boosting of 100 depth-3 trees", trusted_types=TREE,
             categories="ordinal",
             search_space={"learning_rate": "loguniform(0.01,0.3)",
                           "n_estimators": "int(50,300)", "max_depth": "int(2,6)",
                           "subsample": "uniform(0.5,1.0)"})
    register("hist-gb", "sklearn.ensemble:HistGradientBoostingRegressor",
             description="Histogram-based gradient boosting", trusted_types=HIST_GB,
             categories="native",
             search_space={"learning_rate": "loguniform(0.01,0.3)",
                           "max_leaf_nodes": "int(8,64)", "min_samples_leaf": "int(5,50)",
                           "l2_regularization": "loguniform(1e-6,10)"})
    register("dummy", "sklearn.dummy:DummyRegressor",
             description="Predicts the training mean: the baseline to beat")


@hookimpl
def register_datasets(register):
    register("diabetes", "trackfit.engines.pandas:diabetes", "Y",
             description="The lab: diabetes progression Y from ten measurements, 442 rows "
                         "(scikit-learn's copy)")
