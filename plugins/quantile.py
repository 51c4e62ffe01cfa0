"""A drop-in plugin: median regression, as an example of a file in plugins/.

Any ``*.py`` file here that implements ``register_estimators`` adds its estimators; see
docs/plugins.md for the contract.
"""

from trackfit import hookimpl

__version__ = "1.0"


@hookimpl
def register_estimators(register):
    register("quantile", "sklearn.linear_model:QuantileRegressor",
             defaults={"quantile": 0.5, "alpha": 0.0, "solver": "highs"},
             description="Median regression (least absolute deviations), robust to outliers")
