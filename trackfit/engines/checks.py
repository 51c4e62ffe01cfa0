"""The data checks' messages, shared by every engine so each says exactly the same."""

import math

from .. import DataError, quote
from .source import ALIASES, FEATURES, TARGET, scrub

# Separators other than the comma a CSV may come with (a spreadsheet's export in many
# locales, a tab-separated dump), as the one-line error names them.
SEPARATORS = {";": "';'", "\t": "tabs", "|": "'|'"}


def columns(names, name, require_target=True):
    """{lab column: the source's column} and the lab columns wanted; refuses missing ones."""
    by_upper = {}
    for column in names:
        key = str(column).strip().upper()
        key = ALIASES.get(key, key)
        if key in by_upper and key in FEATURES + [TARGET]:
            raise DataError(
                f"data '{name}' has columns {quote(by_upper[key])} and {quote(column)}, which are "
                f"both {key} (names match in any case)", fix="keep one and rename or drop the other"
            )
        by_upper.setdefault(key, column)
    for column in names:  # pandas reads a second AGE of a CSV header as AGE.1
        base, dot, number = str(column).strip().rpartition(".")
        key = ALIASES.get(base.upper(), base.upper())
        if dot and number.isdigit() and key in by_upper and key in FEATURES + [TARGET]:
            raise DataError(
                f"data '{name}' has two columns named {quote(base)} (the second read as "
                f"{quote(str(column))})", fix="keep one and rename or drop the other")
    wanted = FEATURES + ([TARGET] if require_target else [])
    missing = [c for c in wanted if c not in by_upper]
    header = str(names[0]) if missing and len(names) == 1 else ""  # one column: a separator?
    for separator, said in SEPARATORS.items():
        if separator not in header:
            continue
        parts = {part.strip().upper() for part in header.split(separator)}
        if parts & set(FEATURES + [TARGET]):
            raise DataError(
                f"data '{name}' seems to use {said} between its columns (its header is one "
                f"column, {quote(header)})", fix="save it comma-separated and run again"
            )
    if missing:
        unnamed = [str(i + 1) for i, c in enumerate(names)
                   if not str(c).strip() or str(c).startswith("Unnamed: ")]
        hint = f"; column(s) {', '.join(unnamed)} of its header have no name" if unnamed else ""
        raise DataError(
            f"data '{name}' lacks column(s) {', '.join(missing)}",
            fix=f"it needs {' '.join(wanted)} (any case){hint}"
        )
    if TARGET in by_upper and TARGET not in wanted:
        wanted = wanted + [TARGET]
    return by_upper, wanted


def no_rows(name):
    return DataError(f"data '{name}' has no rows", fix="pass a file with the lab's columns")


def not_numeric(name, column, row, value):
    return DataError(
        f"data '{name}' column {column} is not numeric "
        f"(row {row}: {quote(value)})", fix="fix those values or remove the rows"
    )


def missing_values(name, rows, counts, training=False):
    """``training``: rows of the lab's columns to fit on, which a named target would let the
    model impute instead."""
    where = ", ".join(f"{c}: {n}" for c, n in counts.items() if n)
    fix = ("fill or drop them, or pass target=Y to impute them inside the model"
           if training else "fill or drop them, then run again")
    return DataError(f"data '{name}' has missing values in {rows} row(s) ({where})", fix=fix)


def not_found(target):
    return DataError(
        f"data file not found: {target}", fix="pass data= a parquet or CSV path, a URL, "
        "or 'diabetes' for the embedded copy"
    )


def unreadable(src, kind, reason):
    return DataError(
        f"data '{src.safe}' is not a readable {kind} file ({scrub(reason, src)})",
        fix=f"check the file, or re-export it as {kind}"
    )


def boolean(name, column):
    return DataError(
        f"data '{name}' column {column} holds true/false values", fix="the lab's columns "
        "are numbers (SEX is 1 or 2): write them as numbers"
    )


def infinite(name, rows, counts, first):
    where = ", ".join(f"{c}: {n}" for c, n in counts.items() if n)
    return DataError(
        f"data '{name}' has infinite values, or numbers too large for float64, in "
        f"{rows} row(s) ({where}; first at row {first})",
        fix="replace or drop them, then run again")


def check_rows(frame, src, test_size, cv, target=TARGET):
    """Refuse a frame too small for the held-out split and the folds asked for.

    The split is train_test_split's: ceil(test_size * rows) held out. Each metric needs two
    rows (R2 is undefined on one), so the held-out part and every fold need at least two.
    """
    rows = len(frame)
    if target in frame.columns and rows and (frame[target] == frame[target].iloc[0]).all():
        raise constant_target(src.safe, float(frame[target].iloc[0]), target)
    held_out = math.ceil(test_size * rows)
    training = rows - held_out
    needed = max(2 * cv, 2)
    if held_out >= 2 and training >= needed:
        return
    least = least_rows(rows, test_size, needed)
    folds = f" and {cv}-fold cross-validation needs {needed} training rows" if cv else ""
    if least > 10**9:
        raise DataError(
            f"data '{src.safe}' has {rows} row(s), and test_size {test_size}"
            + (f" with cv={cv}" if cv else "") + " would need over a billion rows",
            fix="pass a test_size like 0.3" + (" and a few folds, e.g. cv=5 (cv=0 turns them "
                                               "off)" if cv else ""))
    raise DataError(
        f"data '{src.safe}' has {rows} row(s): test_size {test_size} leaves "
        f"{training} for training and {held_out} held out; each part needs at least 2 rows"
        f"{folds}", fix=f"Pass at least {least} rows"
        + (", or fewer folds (cv=0 turns them off)" if cv else ""), sep=". ")


def least_rows(rows, test_size, needed):
    """The fewest rows, ``rows`` or more, that hold out 2 and keep ``needed`` for training."""
    def enough(n):
        held_out = math.ceil(test_size * n)
        return held_out >= 2 and n - held_out >= needed

    # Neither bound can be beaten: held out 2 needs n > 1 / test_size, and training
    # ``needed`` needs n * (1 - test_size) >= needed; one row less for float rounding.
    start = max(rows, math.floor(1 / test_size), math.ceil(needed / (1 - test_size)) - 1)
    return next((n for n in range(start, start + 1000) if enough(n)), start + 1000)


def constant_target(name, value, target=TARGET):
    return DataError(
        f"data '{name}' has the same {target} ({value:g}) in every row: there is nothing to "
        "learn and R2 is undefined", fix=f"pass data whose {target} varies")
