"""predict: predictions for new rows from a registered model, checked against its signature."""

from .. import engines, trust
from ..engines.predicting import model_info, text_columns
from ..engines.source import FEATURES, parse
from ..tracking import tags
from ..tracking.registry import DEFAULT_MODEL
from ..tracking.runs import log, step_run


def predict(data="diabetes", model=DEFAULT_MODEL, output="", spark=""):
    """One predict run; returns its run id, how many rows it scored (``rows``) and the input
    rows with a ``prediction`` column as pandas (``predictions``: every row on pandas, a
    preview on Spark). Without ``output`` they are printed.
    """
    return step(parse(data), model, output, engines.choose(spark))


def step(src, model, output, engine, nested=False):
    """The predict run: its run id and the input rows with a ``prediction`` column.

    The engine reads, scores and (with ``output``) writes the rows; without ``output`` it
    shows them. The model is loaded from the bytes trust.checked looked at.
    """
    import mlflow

    with step_run("predict", nested=nested, run_name="predict") as run:
        engine.check_output(output)
        log(params={"data": src.safe, "model": model, "output": output, **engine.params()})
        info, inputs = model_info(model)
        needed = inputs or FEATURES
        text = text_columns(info.signature)
        # Refused unless the installed plugins vouch for it; what loads is the checked bytes.
        with trust.checked(model) as checked:
            scored = engine.score(src, checked, needed, output, model, text)
            mlflow.set_tags({tags.ROWS: scored.rows, tags.MODEL_ID: info.model_id or ""})
            if output:
                print(f"predict: {scored.rows} predictions written to {output}, "
                      f"run {run.info.run_id}")
            else:
                engine.show(scored)
        return {"run_id": run.info.run_id, "predictions": scored.preview, "rows": scored.rows}
