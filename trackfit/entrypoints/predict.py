"""predict: predictions for new rows from a registered model, checked against its signature."""

import os
import sys
import tempfile

from .. import TrackfitError, data as datamod, first_line, quote, scoring, tags, trust
from ..tracking import log, step_run

DEFAULT_MODEL = "models:/model-diabetes@champion"
OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv"}


def _model_info(model):
    import yaml
    from mlflow.models import get_model_info

    try:
        with trust._environ({"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}):  # no bars
            return get_model_info(model)
    except yaml.YAMLError as exc:  # MLflow reads MLmodel with safe_load: a !!python/... tag
        raise TrackfitError(
            f"will not load model '{model}': its MLmodel is not plain YAML "
            f"({quote(first_line(exc), 160)}), and a !!python tag in it would run code; "
            "register a model trackfit logged, or pass model= another models:/ or runs:/ URI"
        ) from exc
    except Exception as exc:
        reason = first_line(exc)
        raise TrackfitError(
            f"cannot find model '{model}' ({reason}); register one first "
            "(mlflow run . -e register) or pass model= a models:/ or runs:/ URI"
        ) from exc


def _write(frame, output):
    """Write all of ``frame`` or nothing: a temporary file renamed into place."""
    kind = OUTPUT_FORMATS[os.path.splitext(output)[1].lower()]
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise TrackfitError(f"output folder {folder} does not exist; create it or pick another")
    handle, partial = tempfile.mkstemp(dir=folder, suffix=".partial")
    os.close(handle)
    try:
        if kind == "parquet":
            frame.to_parquet(partial, index=False)
        else:
            frame.to_csv(partial, index=False)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def predictor(model):
    """The function that predicts with ``model``: its own predict after one schema check
    (trackfit.scoring; pyfunc for models that cannot be served so).

    The model is loaded from the copy trust.check looked at, and refused if the installed
    plugins do not vouch for it.
    """
    source = trust.check(model)
    with trust.own_model():
        return scoring.predictor(source)


def _predict_spark(spark, data, model, info, needed, output, run):
    """Score with mlflow.pyfunc.spark_udf; the rows stay in Spark, written by Spark."""
    import mlflow

    from .. import spark as sparkmod

    checked = trust.check(model)  # the executors load the copy that was looked at
    with trust.own_model():
        result, rows = sparkmod.predict(spark, data, checked, needed, output)
    mlflow.set_tags({tags.ROWS: rows, tags.MODEL_ID: info.model_id or ""})
    if output:
        print(f"predict: {rows} predictions written to {output} by Spark, run {run.info.run_id}")
    else:
        result.limit(20).toPandas().to_csv(sys.stdout, index=False)
        print(f"predict: first 20 of {rows} predictions shown; pass output= a folder to "
              "write them all", file=sys.stderr)
    return {"run_id": run.info.run_id, "predictions": result}


def predict(data="diabetes", model=DEFAULT_MODEL, output="", nested=False, spark=""):
    """One predict run; returns the input rows, unchanged, with a ``prediction`` column.

    With ``spark`` the rows are scored and written by Spark (``predictions`` is then a
    Spark frame); without ``output`` the first rows are printed.
    """
    import mlflow

    data = datamod.source(data)
    with step_run("predict", nested=nested, run_name="predict") as run:
        if output and not spark and os.path.splitext(output)[1].lower() not in OUTPUT_FORMATS:
            raise TrackfitError(f"output '{output}' must end in .parquet or .csv")
        log(params={"data": data.safe, "model": model, "output": output,
                    **({"spark": spark} if spark else {})})
        info = _model_info(model)
        needed = [spec.name for spec in info.signature.inputs] if info.signature else None
        if spark:
            return _predict_spark(spark, data, model, info, needed, output, run)
        raw = datamod.read(data)
        frame = datamod.validate(raw, data, require_target=False)  # the model's input only
        if data.kind == "embedded":
            raw = frame  # no file of the user's: the embedded copy in the lab's columns
        if needed:
            missing = [name for name in needed if name not in frame.columns]
            if missing:
                raise TrackfitError(
                    f"data '{data.safe}' lacks column(s) {', '.join(missing)} "
                    f"that model '{model}' needs: {' '.join(needed)}"
                )
        inputs = scoring.block(frame, needed or datamod.FEATURES)  # one float64 block
        del frame
        result = raw.assign(prediction=predictor(model)(inputs))  # input columns as they were
        mlflow.set_tags({tags.ROWS: len(result), tags.MODEL_ID: info.model_id or ""})
        if output:
            _write(result, output)
            print(f"predict: {len(result)} predictions written to {output}, run {run.info.run_id}")
        else:
            result.to_csv(sys.stdout, index=False)
        return {"run_id": run.info.run_id, "predictions": result}
