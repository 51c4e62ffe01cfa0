"""Search spaces for tuning, in one string syntax shared by ``-P space=`` and plugins.

A space is ``name=range`` entries separated by commas, one per hyperparameter:

    uniform(0,1)            a float in [0, 1]
    loguniform(1e-3,100)    a float in [0.001, 100], searched on a log scale
    int(2,10)               an int from 2 to 10, both included
    logint(1,1000)          an int from 1 to 1000, searched on a log scale
    2|3|5|8|none            one of these values, each read like params (none, true, 3, 0.5, text)
    5                       one value, fixed for every trial

e.g. ``alpha=loguniform(1e-3,100)`` or ``max_depth=2|3|5|8|none,min_samples_leaf=int(1,20)``.
Parsing imports nothing heavy; ``distributions()`` turns a space into Optuna's.
"""

import re
from dataclasses import dataclass

from .. import EstimatorError, quote
from .hyperparams import parse_value

RANGES = ("uniform", "loguniform", "int", "logint")
SYNTAX = ("write name=uniform(low,high), loguniform(low,high), int(low,high), "
          "logint(low,high) or choices a|b|c, entries separated by commas, "
          "e.g. space=alpha=loguniform(1e-3,100),max_depth=2|3|5|none")
RANGE = re.compile(r"^(\w+)\(\s*([^,()]*?)\s*,\s*([^,()]*?)\s*\)$")


@dataclass(frozen=True)
class Dimension:
    """One hyperparameter's range: ``kind`` is a range name or ``choice``."""

    kind: str
    low: float = 0
    high: float = 0
    choices: tuple = ()

    def __str__(self):
        if self.kind == "choice":
            return "|".join("none" if c is None else str(c).lower() if isinstance(c, bool)
                            else str(c) for c in self.choices)
        return f"{self.kind}({self.low},{self.high})"

    def distribution(self):
        """The Optuna distribution for this range."""
        from optuna import distributions as d

        if self.kind == "choice":
            return d.CategoricalDistribution(self.choices)
        if self.kind in ("int", "logint"):
            return d.IntDistribution(self.low, self.high, log=self.kind == "logint")
        return d.FloatDistribution(self.low, self.high, log=self.kind == "loguniform")


def _number(text, kind, whole):
    value = parse_value(text)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            whole and not isinstance(value, int)):
        raise ValueError(f"{kind}() takes two {'ints' if whole else 'numbers'}, got {quote(text)}")
    return value if whole else float(value)


def dimension(text):
    """``'int(2,10)'`` -> Dimension; ValueError saying what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("no range given")
    match = RANGE.match(text)
    if match:
        kind, low, high = match.groups()
        if kind not in RANGES:
            raise ValueError(f"unknown range {quote(kind)}; use one of {', '.join(RANGES)}")
        whole = kind in ("int", "logint")
        low, high = _number(low, kind, whole), _number(high, kind, whole)
        if not low < high:
            raise ValueError(f"{kind}({low},{high}) needs low < high")
        if kind.startswith("log") and low <= 0:
            raise ValueError(f"{kind}({low},{high}) needs low > 0 (a log scale)")
        return Dimension(kind, low, high)
    if "(" in text or ")" in text:
        raise ValueError(f"cannot read range {quote(text)}")
    parts = [part.strip() for part in text.split("|")]
    if not all(parts):
        raise ValueError(f"empty choice in {quote(text)}")
    return Dimension("choice", choices=distinct(parse_value(part) for part in parts))


def distinct(values):
    """``values`` without repeats, in order. Two that are equal but of different types
    (1 and 1.0, 1 and true) are refused: the search would keep one, and scikit-learn can
    read them differently (``max_features=1`` is one feature, ``1.0`` all of them)."""
    kept = {}
    for value in values:
        other = kept.setdefault(value, value)
        if type(other) is not type(value):
            raise ValueError(f"{other!r} and {value!r} are one choice to the search, which "
                             "would try only the first; pass just the one you mean")
    return tuple(kept)


def _entries(text):
    """Split on the commas outside parentheses."""
    entries, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            entries.append(current)
            current = ""
        else:
            current += char
    return [entry for entry in entries + [current] if entry.strip()]


def parse(text):
    """``'alpha=loguniform(1e-3,100),fit_intercept=true|false'`` -> {name: Dimension}."""
    space = {}
    for entry in _entries(text or ""):
        name, sep, rest = entry.partition("=")
        name = name.strip()
        try:
            if not sep or not name:
                raise ValueError("expected name=range")
            if name in space:
                raise ValueError(f"{name} is searched twice; give each hyperparameter once")
            space[name] = dimension(rest)
        except ValueError as exc:
            raise EstimatorError(f"cannot read space entry {quote(entry.strip())}: {exc}",
                                 fix=SYNTAX)
    return space


def from_plugin(value):
    """A plugin's ``search_space``: a string in this syntax, or a dict of name -> range string
    or list of choices. Raises ValueError for anything else."""
    if isinstance(value, str):
        try:
            return parse(value)
        except EstimatorError as exc:
            raise ValueError(str(exc)) from None
    if not isinstance(value, dict):
        raise ValueError("search_space must be a dict of hyperparameter names to ranges")
    space = {}
    for name, given in value.items():
        if not isinstance(name, str) or not name:
            raise ValueError("search_space keys must be hyperparameter names")
        if isinstance(given, (list, tuple)) and given:
            space[name] = Dimension("choice", choices=distinct(given))
        elif isinstance(given, str):
            try:
                space[name] = dimension(given)
            except ValueError as exc:
                raise ValueError(f"search_space {name}={quote(given)}: {exc}") from None
        else:
            raise ValueError(f"search_space {quote(name)} must be a range string or a list of "
                             "choices")
    return space


def to_text(space):
    """The space back in the string syntax, as logged on the tune run."""
    return ",".join(f"{name}={dim}" for name, dim in space.items())


def grid(space):
    """The values of each hyperparameter for a grid search; every range must be choices."""
    ranges = [name for name, dim in space.items() if dim.kind != "choice"]
    if ranges:
        raise EstimatorError(
            f"search=grid needs choices for every hyperparameter, but {', '.join(ranges)} "
            f"{'is a range' if len(ranges) == 1 else 'are ranges'}", fix="write e.g. "
            f"{ranges[0]}=2|4|8, or use search=tpe or search=random"
        )
    return {name: list(dim.choices) for name, dim in space.items()}
