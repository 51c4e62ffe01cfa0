"""The metrics sklearn autolog logs, on a split and by cross-validation."""

SCORERS = {
    "r2_score": "r2",
    "mean_absolute_error": "neg_mean_absolute_error",
    "mean_squared_error": "neg_mean_squared_error",
    "root_mean_squared_error": "neg_root_mean_squared_error",
}


def scores(y_true, y_pred, prefix):
    """The metrics sklearn autolog logs, under ``prefix``."""
    from sklearn import metrics

    mse = metrics.mean_squared_error(y_true, y_pred)
    r2 = metrics.r2_score(y_true, y_pred)
    return {
        f"{prefix}_r2_score": r2,
        f"{prefix}_mean_absolute_error": metrics.mean_absolute_error(y_true, y_pred),
        f"{prefix}_mean_squared_error": mse,
        f"{prefix}_root_mean_squared_error": mse**0.5,
        f"{prefix}_score": r2,
    }


def cv_scores(estimator, X, y, folds, error_score=float("nan")):
    """Mean and standard deviation of each metric over ``folds`` folds of the training split,
    and each fold's values (for evaluation.json).

    The folds are taken by row index from one array (``X.to_numpy()`` of a one-block frame
    is a view): each fold copies its rows once, where folds of a frame copy them twice.
    ``error_score="raise"``: a fold the estimator fails on raises instead of scoring NaN.
    A pipeline (a table's model) takes its folds of the raw frame: it selects columns by name.
    """
    import numpy as np
    from sklearn.model_selection import KFold, cross_validate
    from sklearn.pipeline import Pipeline

    if "copy_X" in estimator.get_params(deep=False):
        estimator = estimator.set_params(copy_X=False)  # each fold's rows are its own copy
    rows = X if isinstance(estimator, Pipeline) else np.asarray(X)
    result = cross_validate(estimator, rows, y, cv=KFold(folds), scoring=SCORERS,
                            error_score=error_score)
    out, each = {}, {}
    for name, scorer in SCORERS.items():
        values = result[f"test_{name}"] * (-1 if scorer.startswith("neg_") else 1)
        out[f"cv_{name}"] = float(values.mean())
        out[f"cv_{name}_std"] = float(values.std())
        each[name] = values
    return out, each
