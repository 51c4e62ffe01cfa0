"""Saving a fitted model with its flavor, signature, example and pinned requirements."""

from .. import trust
from ..engines.table import CATEGORY, DATE
from ..estimators import plugins
from ..tracking import project


def log_model(spec, model, X, y_pred, table=None):
    """Save the model with the flavor the spec names, in skops where the flavor offers it.

    Requirements: what loading the model needs (project.model_requirements), plus what the
    plugin's package requires. A pipeline (any table but the lab's) also trusts the
    preprocessing types trackfit uses.
    """
    import importlib
    import inspect

    flavor = importlib.import_module(f"mlflow.{spec.flavor}")
    trusted = list(spec.trusted_types)
    if table is not None and not table.lab:
        from ..estimators import preprocessing

        trusted += [t for t in preprocessing.TYPES if t not in trusted]
    options = dict(
        name="model",
        signature=signature(X, y_pred[:5], table),
        input_example=X.head(5),
        pip_requirements=list(
            dict.fromkeys(project.model_requirements() + plugins.requirements(spec))),
    )
    if "serialization_format" in inspect.signature(flavor.log_model).parameters:
        options.update(
            serialization_format="skops",
            skops_trusted_types=trusted or None,
        )
    with trust.own_model():  # log_model loads the model back to check its input example
        return flavor.log_model(model, **options)


def signature(X, y_pred, table=None):
    """The model's signature: each column of ``X`` by name; numbers of MLflow's type
    ``any``, and a table's categories and dates ``string``.

    MLflow refuses an int64 column where a signature says ``double`` ("Can not safely
    convert int64 to float64"), and a float where it says ``long``; a CSV of whole numbers
    (AGE 42) reads as int64, of decimals as float64. With ``any``, plain ``mlflow.pyfunc``
    and ``mlflow models serve`` hand either to the model, which reads them as float64 as it
    was fitted; MLflow still checks that every named column is there.
    """
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import DataType
    from mlflow.types.schema import AnyType, ColSpec, Schema

    text = set() if table is None else set(table.columns(CATEGORY, DATE))
    inputs = Schema([ColSpec(DataType.string if name in text else AnyType(), str(name))
                     for name in X.columns])
    return ModelSignature(inputs=inputs, outputs=infer_signature(X.head(), y_pred).outputs)
