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


@hookimpl
def register_estimators(register):
    register(
        name="lightgbm",
        factory="trackfit_lightgbm:regressor",
        defaults={"n_jobs": 1},
        description="LightGBM gradient boosted trees (100 trees, 31 leaves)",
        flavor="lightgbm",
        trusted_types=TRUSTED_TYPES,
    )
