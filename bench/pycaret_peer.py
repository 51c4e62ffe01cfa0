"""The peer of figure 10: PyCaret's compare_models on trackfit's 12 built-in regressors.

    TRACKFIT_PYCARET_PYTHON=<a PyCaret 3.3.2 venv>/bin/python python bench/run.py --only 10
    python bench/pycaret_peer.py FOLDS [lean]
    python bench/pycaret_peer.py FOLDS table DATA.csv TARGET [NAMES]   # figure 14

Run by that interpreter, not trackfit's (PyCaret 3.3.2 pins an older scikit-learn, pandas and
numpy; BENCHMARKS.md says how to make its venv). The same 442 rows, the same 70/30 split
size, 5-fold CV on the training rows, every model and its metrics logged to MLflow
(``log_experiment``), with PyCaret's defaults otherwise: its preprocessing and
``n_jobs=-1``, every core. bench/run.py runs it as its users run it, in its MLflow's default
store (``./mlruns`` for MLflow 2.x). ``lean``: PyCaret at its leanest, one core and no
preprocessing. ``table``: figure 14's peer, ``setup(data, target)`` on a CSV with PyCaret's
defaults (its own split and preprocessing), ``compare_models`` over the 10 built-ins that
scale (all but svr and dummy), then the best model's R2 on PyCaret's held-out rows.
"""

import os
import sys
import warnings

warnings.simplefilter("ignore")

from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: E402

from pycaret.regression import compare_models, predict_model, pull, setup  # noqa: E402

# trackfit's names -> PyCaret's model ids; hist-gb is not in PyCaret's library: passed as
# the estimator itself.
MODELS = {"linear": "lr", "tree": "dt", "ridge": "ridge", "lasso": "lasso",
          "elasticnet": "en", "knn": "knn", "svr": "svm", "forest": "rf",
          "extra-trees": "et", "gbr": "gbr", "hist-gb": HistGradientBoostingRegressor(),
          "dummy": "dummy"}


def main(folds=5, lean=False):
    frame = load_diabetes(scaled=False, as_frame=True).frame
    frame.columns = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6", "Y"]
    setup(frame, target="Y", train_size=0.7, session_id=0, fold=folds,
          log_experiment=True,
          experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME", "experiment-diabetes"),
          verbose=False, html=False, system_log=False,
          **({"n_jobs": 1, "preprocess": False} if lean else {}))
    compare_models(include=list(MODELS.values()), n_select=len(MODELS), verbose=False)
    table = pull()
    best = table.iloc[0]
    print(f"pycaret: {len(table)} models compared, best {best.get('Model', table.index[0])} "
          f"R2 {best['R2']:.4f}")
    return 0 if len(table) == len(MODELS) else 1


def table(path, target, folds=5, names=""):
    """Figure 14: PyCaret as its users run it on their own table; prints the held-out R2.
    ``names``: trackfit's names of the models, comma-separated (all but svr and dummy)."""
    import pandas as pd

    frame = pd.read_csv(path)
    chosen = names.split(",") if names else [n for n in MODELS if n not in ("svr", "dummy")]
    include = [MODELS[name] for name in chosen]
    setup(frame, target=target, session_id=0, fold=folds, log_experiment=True,
          experiment_name=os.environ.get("MLFLOW_EXPERIMENT_NAME", "experiment-table"),
          verbose=False, html=False, system_log=False)
    best = compare_models(include=include, verbose=False)
    compared = pull()
    predict_model(best, verbose=False)
    held_out = pull().iloc[0]
    print(f"pycaret: {len(compared)} models compared, best {held_out['Model']} "
          f"CV R2 {compared.iloc[0]['R2']:.4f}, held-out R2 {held_out['R2']:.4f}")
    return 0 if len(compared) == len(include) else 1


if __name__ == "__main__":
    if sys.argv[2:3] == ["table"]:
        sys.exit(table(sys.argv[3], sys.argv[4], int(sys.argv[1]), *sys.argv[5:6]))
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5, sys.argv[2:3] == ["lean"]))
