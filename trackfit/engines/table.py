"""The table: which column is the target, and what every other column is to the model.

Inferred once from the rows (:func:`infer`), printed once, recorded in the run (params and
``schema.json``) and rebuilt from them by the gate. Roles:

- ``number``: a numeric column (also text that is all numbers);
- ``category``: text, booleans, pandas categories (and what ``categorical=`` names);
- ``date``: date or time text, or a datetime column: the model reads its parts;
- ``key``: a distinct value in every row (an id, a name, the unnamed index column many CSV
  writers add): kept in predict's output, never fitted on;
- ``ignored``: left out by ``features=`` or ``ignore=``, or empty.

The diabetes lab's table is the ten measurements and ``Y``, all numbers, missing values
refused: its model stays the bare estimator, its numbers exactly the lab's.
"""

import difflib
import json
from dataclasses import asdict, dataclass, field

from .. import DataError, quote
from .source import Ask

NUMBER, CATEGORY, DATE, KEY, IGNORED = "number", "category", "date", "key", "ignored"
ROLES = (NUMBER, CATEGORY, DATE, KEY, IGNORED)
FEATURE_ROLES = (NUMBER, CATEGORY, DATE)
CATEGORY_CAP = 50  # one-hot columns per text feature; rarer values share one "infrequent"
SCHEMA = "schema.json"
LAB_TARGET = "Y"
ID_NAMES = ("id", "index", "")


def ask_from(params):
    """The Ask a run recorded in its params (the lab's, and a run from before tables: none)."""
    if params.get("table.lab", "true") == "true":
        return Ask()

    def names(key):
        return tuple(n for n in (params.get(key) or "").split(",") if n)

    target = params.get("table.target") or params.get("target", "")
    return Ask(target, names("features"), names("ignore"), names("categorical"),
               params.get("missing") or "impute")


@dataclass(frozen=True)
class Table:
    """The target and every other column's role, in the frame's order."""

    target: str
    roles: tuple  # ((column, role), ...)
    imputed: tuple = ()  # features with missing values, imputed inside the model
    capped: tuple = ()  # category features with more than CATEGORY_CAP values
    dropped: int = 0  # rows dropped because their target was missing
    name: str = "diabetes"
    lab: bool = False  # the lab's table: the bare estimator, missing values refused
    notes: dict = field(default_factory=dict)  # column: why it got its role

    def columns(self, *roles):
        return [name for name, role in self.roles if role in roles]

    @property
    def features(self):
        return self.columns(*FEATURE_ROLES)

    @property
    def keys(self):
        return self.columns(KEY)

    @property
    def schema(self):
        """(target, numbers, categories, dates) as the run params say them: runs rank
        together only when these match (tracking.runs.same_table)."""
        return (self.target, *(",".join(self.columns(role)) for role in FEATURE_ROLES))

    def to_dict(self):
        found = asdict(self)
        found["roles"] = {name: role for name, role in self.roles}
        found["features"] = self.features
        return found

    def params(self):
        """What the run's params say of the table (the full schema is in schema.json)."""
        found = {"table.target": self.target, "table.name": self.name}
        for role in ROLES:
            found[f"table.{role}"] = ",".join(self.columns(role))
        found["table.imputed"] = ",".join(self.imputed)
        found["table.lab"] = str(self.lab).lower()
        return {k: v[:6000] if isinstance(v, str) else v for k, v in found.items()}

    def describe(self):
        """The roles, in one short block of lines, as the load step prints them."""
        lines = [f"table {self.name}: target {self.target}"
                 + (f" ({self.dropped} row(s) without it dropped)" if self.dropped else "")]
        for role in ROLES:
            names = self.columns(role)
            if names:
                shown = ", ".join(n + (f" ({self.notes[n]})" if n in self.notes else "")
                                  for n in names)
                lines.append(f"  {role + ':':<10}{shown}")
        if self.imputed:
            lines.append(f"  {'imputed:':<10}{', '.join(self.imputed)} (inside the model)")
        return "\n".join(lines)


def from_dict(found):
    """The Table that ``to_dict`` wrote (schema.json)."""
    roles = tuple((str(k), str(v)) for k, v in found["roles"].items())
    return Table(found["target"], roles, tuple(found.get("imputed", ())),
                 tuple(found.get("capped", ())), int(found.get("dropped", 0)),
                 found.get("name", ""), bool(found.get("lab", False)),
                 dict(found.get("notes", {})))


def schema_text(table):
    return json.dumps(table.to_dict(), indent=2)


def lab(features, name="diabetes"):
    """The lab's table: ``features`` and Y, all numbers, missing values refused."""
    return Table(LAB_TARGET, tuple((f, NUMBER) for f in features), name=name, lab=True)


def _close(name, names):
    found = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
    found = found or [n for n in names if n.lower() == name.lower()]
    return f"did you mean {quote(found[0])}? " if found else ""


def _listed(names, most=12):
    names = [str(n) for n in names]
    more = f", ... ({len(names)} in all)" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def target_of(names, wanted, data):
    """The column ``wanted`` names (in any case when only one matches), or one line."""
    if wanted in names:
        return wanted
    same = [n for n in names if n.lower() == wanted.lower()]
    if len(same) == 1:
        return same[0]
    raise DataError(
        f"target {quote(wanted)} is not a column of data '{data}'", fix=f"{_close(wanted, names)}"
        f"its columns: {_listed(names)}; pass target= one of them")


def no_target(names, data, lacking):
    """The line for a file that does not say its target and is not the lab's table."""
    return DataError(
        f"data '{data}' does not say what to predict: it lacks the lab's column(s) "
        f"{', '.join(lacking)}", fix=f"pass target= one of its columns ({_listed(names)}), e.g. "
        f"target={quote(str(names[-1]))}")


def as_text(values):
    """A column as text (None where missing), the way the model reads a category or a date:
    whole numbers without a trailing .0 (4, not 4.0), so a CSV read as floats matches."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(values):
        return values.map(lambda v: None if pd.isna(v) else v.isoformat()).astype(object)

    def text(value):
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return values.astype(object).map(text).astype(object)


def _is_date(values):
    """Whether text ``values`` (no missing ones) are all dates or times."""
    import warnings

    import pandas as pd

    sample = values.head(1000).astype(str)
    if not sample.str.contains(r"\d").all() or not sample.str.contains(r"[-/:]").all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
        except (ValueError, TypeError):
            return False
    return bool(parsed.notna().all())


def _role(name, values, rows):
    """(the role a column's values give it, why), before the user's overrides."""
    import pandas as pd

    present = values.dropna()
    if present.empty:
        return IGNORED, "empty"
    unnamed = str(name).startswith("Unnamed: ") or not str(name).strip()
    if pd.api.types.is_bool_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        return CATEGORY, ""
    if pd.api.types.is_datetime64_any_dtype(values):
        return DATE, ""
    distinct = len(present) == rows and present.nunique() == rows
    if pd.api.types.is_numeric_dtype(values):
        whole = pd.api.types.is_integer_dtype(values) or bool(
            (present == present.round()).all())
        looks_id = str(name).strip().lower() in ID_NAMES or str(name).lower().endswith("_id")
        if distinct and whole and (unnamed or looks_id):
            return KEY, "distinct in every row"
        return NUMBER, ""
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        return NUMBER, "numbers as text"
    if distinct:
        return KEY, "distinct in every row"
    if _is_date(present):
        return DATE, ""
    if present.nunique() > CATEGORY_CAP:
        return CATEGORY, (f"{present.nunique()} values: the {CATEGORY_CAP} most frequent "
                          "kept, the rest as one; ignore= it to leave it out")
    return CATEGORY, ""


def _named(option, names, columns, data):
    absent = [n for n in names if n not in columns]
    if absent:
        raise DataError(
            f"{option}= names {', '.join(map(quote, absent))}, which data '{data}' does not "
            "have", fix=f"{_close(absent[0], columns)}its columns: {_listed(columns)}")


def infer(frame, ask, data, name):
    """(the frame the model trains on, its Table) from the raw rows ``frame``.

    Rows without a target are dropped; numbers become float64, categories and dates text
    (None where missing). ``data`` names the source in errors, ``name`` the table.
    """
    import pandas as pd

    from .checks import missing_values, no_rows

    if len(frame) == 0:
        raise no_rows(data)
    frame = frame.rename(columns=str)
    columns = list(frame.columns)
    target = _asked_target(columns, ask, data)
    frame, y, dropped = _rows_with_target(frame, _numeric_target(frame, target, columns, data),
                                          target, data)
    roles, notes, out = _roles(frame, columns, target, ask)
    features = [c for c, r in roles if r in FEATURE_ROLES]
    if not features:
        raise DataError(
            f"data '{data}' has no column left to learn {target} from (keys and ignored "
            f"columns are not fitted: {_listed([c for c, _ in roles]) or 'none'})", fix="pass "
            "features= the columns to use, or a table with more columns")
    out[target] = y
    prepared = pd.DataFrame(out, index=frame.index)[columns].reset_index(drop=True)
    holes = prepared[features].isna()
    imputed = tuple(c for c in features if holes[c].any())
    if ask.missing == "refuse" and imputed:
        counts = {c: int(n) for c, n in holes.sum().items()}
        raise missing_values(data, int(holes.any(axis=1).sum()), counts)
    capped = tuple(c for c in features if dict(roles)[c] == CATEGORY
                   and prepared[c].nunique() > CATEGORY_CAP)
    table = Table(target, tuple(roles), imputed, capped, dropped, name, False, notes)
    return prepared, table


def _asked_target(columns, ask, data):
    """The target of ``columns``, after checking what the user named is there and apart."""
    twice = next((c for c in columns if columns.count(c) > 1), None)
    if twice:
        raise DataError(f"data '{data}' has two columns named {quote(twice)}", fix="keep one and "
                        "rename or drop the other")
    target = target_of(columns, ask.target, data)
    for option in ("features", "ignore", "categorical"):
        _named(option, getattr(ask, option), columns, data)
    if target in ask.features or target in ask.categorical:
        raise DataError(f"target {quote(target)} is also named in features= or categorical=",
                        fix="the target cannot be a feature: leave it out")
    return target


def _numeric_target(frame, target, columns, data):
    """The target column as float64 (NaN where missing); one line if it holds text."""
    import pandas as pd

    y = frame[target]
    if pd.api.types.is_bool_dtype(y) or not pd.api.types.is_numeric_dtype(y):
        numbers = pd.to_numeric(y, errors="coerce") if not pd.api.types.is_bool_dtype(y) \
            else pd.Series(float("nan"), index=y.index)
        bad = y[numbers.isna() & y.notna()]
        if len(bad):
            found = ", ".join(quote(str(v)) for v in bad.drop_duplicates().head(3))
            numeric = [c for c in columns if c != target
                       and pd.api.types.is_numeric_dtype(frame[c])
                       and not pd.api.types.is_bool_dtype(frame[c])]
            hint = f" (numeric columns: {_listed(numeric, 6)})" if numeric else ""
            raise DataError(
                f"target {quote(target)} of data '{data}' is not numeric: regression needs "
                f"numbers, and it holds {found}", fix=f"pass target= a numeric column{hint}")
        y = numbers
    return y.astype("float64")


def _rows_with_target(frame, y, target, data):
    """(the rows that have a target, their target, how many were dropped); one line if
    none has one or every one is the same."""
    from .checks import constant_target

    keep = y.notna()
    dropped = int((~keep).sum())
    if dropped:
        frame, y = frame[keep], y[keep]
    if len(frame) == 0:
        raise DataError(f"data '{data}' has no row with a {target}: every value of the "
                        "target is missing", fix="pass target= a column that has values")
    if (y == y.iloc[0]).all():
        raise constant_target(data, float(y.iloc[0]), target)
    return frame, y, dropped


def _roles(frame, columns, target, ask):
    """([(column, role), ...], {column: why}, {column: its values as the model reads them})
    for every column but the target, the user's features=, ignore= and categorical= first."""
    import pandas as pd

    rows = len(frame)
    roles, notes, out = [], {}, {}
    for column in columns:
        if column == target:
            continue
        values = frame[column]
        if ask.features and column not in ask.features or column in ask.ignore:
            role, why = IGNORED, "asked"
        elif column in ask.categorical:
            role, why = CATEGORY, "asked"
        else:
            role, why = _role(column, values, rows)
            if ask.features and role in (KEY, IGNORED):
                role, why = (NUMBER if pd.api.types.is_numeric_dtype(values) else CATEGORY), \
                    "asked"
        roles.append((column, role))
        if why:
            notes[column] = why
        if role == NUMBER:
            out[column] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif role in (CATEGORY, DATE):
            out[column] = as_text(values)
        else:
            out[column] = values
    return roles, notes, out
