"""LightGBM regressors for trackfit.

Importing this module imports trackfit's marker only (trackfit imports pluggy, nothing more): LightGBM is imported when the estimator is
built, so ``python -m trackfit estimators`` stays fast with this plugin installed.
"""

from trackfit import hookimpl

# The types MLflow's lightgbm flavor writes into every skops model's MLmodel as trusted.
# trackfit loads a model only when each type its MLmodel trusts is one a plugin declares.
TRUSTED_TYPES = [
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
]


def regressor():
    """A new LGBMRegressor that does not print LightGBM's log lines on every fit."""
    from lightgbm import LGBMRegressor

    return LGBMRegressor(verbose=-1)


def validate(model):
    """Raise ValueError unless every tree of ``model`` reads its own features and numbers.

    The types above are ones skops calls unsafe, so trackfit loads these models only with a
    check: each split's feature is one the model has, thresholds and leaves are finite.
    """
    import math

    booster = model.booster_ if hasattr(model, "booster_") else model
    features = booster.num_feature()
    if getattr(model, "n_features_in_", features) != features:
        raise ValueError(f"its booster reads {features} features, the model "
                         f"{model.n_features_in_}")
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                if not 0 <= node["split_feature"] < features:
                    raise ValueError(f"a tree splits on feature {node['split_feature']}, the "
                                     f"model has {features}")
                threshold = node.get("threshold")
                if isinstance(threshold, float) and math.isnan(threshold):
                    raise ValueError("a tree has a threshold that is not a number")
                stack += [node["left_child"], node["right_child"]]
            elif not math.isfinite(node.get("leaf_value", 0.0)):
                raise ValueError("a tree has a leaf value that is not a finite number")


@hookimpl
def register_estimators(register):
    register(
        name="lightgbm",
        factory="trackfit_lightgbm:regressor",
        defaults={"n_jobs": 1},
        description="LightGBM gradient boosted trees (100 trees, 31 leaves)",
        flavor="lightgbm",
        trusted_types=TRUSTED_TYPES,
        validate=validate,
    )
