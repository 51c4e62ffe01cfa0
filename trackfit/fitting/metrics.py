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

    The numbers of sklearn's ``cross_validate`` with these four scorers (the same unshuffled
    KFold, a clone fitted per fold, sklearn's own metric functions on one predict per fold),
    without its per-call machinery (scorer lookup, metadata routing, a joblib dispatch per
    fold, each metric's argument checks): a tree's 5 folds of the lab 18.7 -> 8.0 ms.
    The folds are taken by row index from one array (``X.to_numpy()`` of a one-block frame
    is a view): each fold copies its rows once, where folds of a frame copy them twice.
    ``error_score="raise"``: a fold the estimator fails on raises instead of scoring NaN.
    A pipeline (a table's model) takes its folds of the raw frame: it selects columns by name.
    """
    return cv_gathered(cv_started(estimator, X, y, folds, error_score), folds, error_score)


def cv_started(estimator, X, y, folds, error_score=float("nan"), submit=None):
    """Each fold of :func:`cv_scores`, fitted and scored here, one after the other; or with
    ``submit`` (an executor's), handed to its workers: then futures, for :func:`cv_gathered`
    to wait on. A fold's numbers are the same wherever it runs."""
    import numpy as np
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline

    if "copy_X" in estimator.get_params(deep=False):
        estimator = estimator.set_params(copy_X=False)  # each fold's rows are its own copy
    rows = X if isinstance(estimator, Pipeline) else np.asarray(X)
    splits = KFold(folds).split(rows)
    if submit is None:
        return [one_fold(estimator, rows, y, train, test, error_score) for train, test in splits]
    return [submit(one_fold, estimator, rows, y, train, test, error_score)
            for train, test in splits]


def one_fold(estimator, rows, y, train, test, error_score):
    """One fold: (its four scores, ""), or (None, why its fit failed)."""
    from sklearn.base import clone

    model = clone(estimator)
    try:
        model.fit(_take(rows, train), _take(y, train))
    except Exception as exc:
        if error_score == "raise":
            raise
        return None, f"{type(exc).__name__}: {exc}"
    y_pred = model.predict(_take(rows, test))
    return fold_scores(_take(y, test), y_pred), ""


def _take(values, at):
    """Rows ``at`` of ``values``: plain arrays directly (sklearn's _safe_indexing checks each
    call), anything else through _safe_indexing."""
    import numpy as np
    from sklearn.utils import _safe_indexing

    return values[at] if isinstance(values, np.ndarray) else _safe_indexing(values, at)


def cv_gathered(started, folds, error_score=float("nan")):
    """:func:`cv_scores`' result from what :func:`cv_started` returned (waiting on futures
    in fold order; the first that raises cancels the rest)."""
    import warnings
    from concurrent.futures import Future

    import numpy as np
    from sklearn.exceptions import FitFailedWarning

    try:
        outcomes = [o.result() if isinstance(o, Future) else o for o in started]
    except BaseException:
        for outcome in started:
            if isinstance(outcome, Future):
                outcome.cancel()
        raise
    each = {name: [] for name in SCORERS}
    failed = [why for scored, why in outcomes if scored is None]
    for scored, _ in outcomes:
        for name in SCORERS:
            each[name].append(error_score if scored is None else scored[name])
    if failed and len(failed) == folds:
        raise ValueError(f"All the {folds} fits failed: {failed[0]}")
    if failed:
        warnings.warn(f"{len(failed)} fits failed out of a total of {folds}; their scores "
                      f"are {error_score}: {failed[0]}", FitFailedWarning)
    each = {name: np.asarray(values, dtype=float) for name, values in each.items()}
    return cv_means(each), each


def cv_means(each):
    """The CV metrics of each fold's scores (``{name: scores}``): ``cv_<name>`` their mean,
    ``cv_<name>_std`` their standard deviation."""
    import numpy as np

    out = {}
    for name, values in each.items():
        values = np.asarray(values, dtype=float)
        out[f"cv_{name}"] = float(values.mean())
        out[f"cv_{name}_std"] = float(values.std())
    return out


def fold_scores(y_true, y_pred):
    """The four metrics of one fold, as sklearn's scorers compute them.

    For float64 predictions of one target, sklearn's own arithmetic (the targets as one
    column, numpy's mean and sum over it, the same order of operations) without its input
    checks, which cost more than a small fold's fit: the same float, bit for bit (a test
    checks). Anything else goes through sklearn's functions.
    """
    import numpy as np
    from sklearn import metrics

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if (y_pred.dtype != np.float64 or y_true.ndim != 1 or y_pred.shape != y_true.shape
            or y_true.dtype.kind not in "fiu" or len(y_true) < 2):
        with sklearn_unchecked():
            return {"r2_score": metrics.r2_score(y_true, y_pred),
                    "mean_absolute_error": metrics.mean_absolute_error(y_true, y_pred),
                    "mean_squared_error": metrics.mean_squared_error(y_true, y_pred),
                    "root_mean_squared_error": metrics.root_mean_squared_error(y_true, y_pred)}
    y_true = y_true.astype(np.float64, copy=False).reshape(-1, 1)
    y_pred = y_pred.reshape(-1, 1)
    squares = (y_true - y_pred) ** 2
    mse = np.average(np.average(squares, axis=0))
    numerator = np.sum(1.0 * squares, axis=0)
    denominator = np.sum(1.0 * (y_true - np.average(y_true, axis=0)) ** 2, axis=0)
    if numerator[0] == 0:
        r2 = 1.0
    elif denominator[0] == 0:
        r2 = 0.0
    else:
        r2 = np.average(1 - numerator / denominator)
    return {"r2_score": float(r2),
            "mean_absolute_error": float(np.average(np.average(np.abs(y_pred - y_true), axis=0))),
            "mean_squared_error": float(mse),
            "root_mean_squared_error": float(np.average(np.sqrt(np.average(squares, axis=0))))}


def sklearn_unchecked():
    import sklearn

    return sklearn.config_context(skip_parameter_validation=True)
