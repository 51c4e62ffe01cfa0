"""Saving a fitted model with its flavor, signature, example and pinned requirements."""

from .. import trust
from ..estimators import plugins
from ..tracking import project


def log_model(spec, model, X, y_pred):
    """Save the model with the flavor the spec names, in skops where the flavor offers it.

    Requirements: what loading the model needs (project.model_requirements), plus what the
    plugin's package requires.
    """
    import importlib
    import inspect

    from mlflow.models import infer_signature

    flavor = importlib.import_module(f"mlflow.{spec.flavor}")
    options = dict(
        name="model",
        signature=infer_signature(X.head(), y_pred[:5]),
        input_example=X.head(5),
        pip_requirements=list(
            dict.fromkeys(project.model_requirements() + plugins.requirements(spec))),
    )
    if "serialization_format" in inspect.signature(flavor.log_model).parameters:
        options.update(
            serialization_format="skops",
            skops_trusted_types=list(spec.trusted_types) or None,
        )
    with trust.own_model():  # log_model loads the model back to check its input example
        return flavor.log_model(model, **options)
