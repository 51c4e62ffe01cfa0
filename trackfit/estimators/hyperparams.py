"""Hyperparameters: parsed from MLproject's strings, checked against the estimator."""

import difflib

from .. import EstimatorError, first_line, quote

SEED_PARAM = "random_state"


def parse_value(text):
    """'3' -> 3, '0.5' -> 0.5, 'true' -> True, 'none' -> None, anything else stays a string."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse(text):
    """'max_depth=3,criterion=poisson' -> {'max_depth': 3, 'criterion': 'poisson'}."""
    params = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise EstimatorError(
                f"cannot read params {quote(text)}", sep=": ",
                fix="write name=value pairs separated by commas, e.g. "
                    "params=max_depth=3,min_samples_leaf=2")
        if name.strip() in params:
            raise EstimatorError(f"params {quote(text)} set {name.strip()} twice", fix="give each "
                                 "hyperparameter once")
        params[name.strip()] = parse_value(value)
    return params


def build(spec, overrides, seed):
    """A new, unfitted estimator from its spec: defaults, then overrides, then the run's seed.

    Raises EstimatorError for unknown names and for values the estimator rejects.
    """
    estimator = spec.load_factory()()
    known = estimator.get_params(deep=False)
    if SEED_PARAM in overrides:
        raise EstimatorError(
            f"{SEED_PARAM} is the run's seed: pass random_state={overrides[SEED_PARAM]} "
            "as its own parameter, not inside params"
        )
    params = {**spec.defaults, **overrides}
    for name in params:
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise EstimatorError(
                f"estimator '{spec.name}' has no hyperparameter {quote(name)}",
                fix=f"{hint}it takes: {', '.join(sorted(known))}"
            )
    if SEED_PARAM in known:
        params[SEED_PARAM] = seed
    estimator.set_params(**params)
    # scikit-learn's own check, for estimators that declare their constraints
    validate = getattr(estimator, "_validate_params", None)
    if validate is not None and hasattr(estimator, "_parameter_constraints"):
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise rejected(spec, overrides, exc) from exc
    return estimator


def rejected(spec, overrides, exc):
    """The error for hyperparameter values the estimator refused."""
    given = ",".join(f"{k}={quote(v) if isinstance(v, str) and len(v) > 80 else v}"
                     for k, v in overrides.items()) or "its defaults"
    message = first_line(exc)
    return EstimatorError(
        f"estimator '{spec.name}' rejected {given}: {message} Fix the value in params."
    )
