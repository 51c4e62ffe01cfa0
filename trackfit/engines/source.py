"""A data source, parsed once: the embedded copy, a file, a URL or a run's artifact.

Also the lab's columns: every engine reads a source into these, as float64.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .. import DataError, quote

FEATURES = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]
TARGET = "Y"
ALIASES = {"TARGET": TARGET}
EMBEDDED = "diabetes"
EMBEDDED_SOURCE = "sklearn.datasets.load_diabetes(scaled=False)"
MISSING = ("impute", "refuse")
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".txt": "tsv"}


@dataclass(frozen=True)
class Ask:
    """What the user said about the table: ``target`` (empty: the dataset's own), and the
    ``features`` to use, the columns to ``ignore``, the ones that are ``categorical``, and
    whether ``missing`` values are imputed or refused."""

    target: str = ""
    features: tuple = ()
    ignore: tuple = ()
    categorical: tuple = ()
    missing: str = "impute"

    def check(self):
        if self.missing not in MISSING:
            raise DataError(f"missing must be impute or refuse, got {quote(self.missing)}")
        return self

    @property
    def given(self):
        """Whether the user said anything about the table."""
        return bool(self.target or self.features or self.ignore or self.categorical
                    or self.missing != "impute")

    def params(self):
        """The run params the gate rebuilds the table from."""
        return {"target": self.target, "features": ",".join(self.features),
                "ignore": ",".join(self.ignore), "categorical": ",".join(self.categorical),
                "missing": self.missing}


@dataclass(frozen=True)
class Source:
    """A data source, parsed once: what the user gave, what it is, and what is safe to show."""

    text: str  # as given; may hold credentials, so never logged or printed
    kind: str  # embedded, file, run (runs:/ artifact), http, or fsspec (any other URL)
    safe: str  # the text with any password and query string (a SAS token, say) removed
    format: str  # parquet, csv or tsv; "" for the embedded copy or when the name does not say
    ask: object = field(default=None, compare=False)  # Ask: the target, features, ...

    def __str__(self):
        return self.safe

    @property
    def table_name(self):
        """The table's name, from the dataset or the file: penguins for data/penguins.csv;
        the lab's (diabetes) when the user names no target: a file is then the lab's."""
        if self.kind == "embedded":
            return self.safe
        if self.ask is None or not self.ask.given:
            return EMBEDDED
        stem = Path(urlsplit(self.safe).path if "://" in self.safe else self.safe).stem
        return re.sub(r"[^a-z0-9_.-]+", "-", stem.lower()).strip("-.") or "data"


def redact(text):
    """``text`` with any password and query string (a SAS token, say) removed."""
    parts = urlsplit(text)
    if not parts.scheme or len(parts.scheme) == 1:  # a path, or a Windows drive letter
        return text
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def parse(data, ask=None):
    """The Source for what the user gave as ``data``: parsed once, at the command line.

    ``ask``: what the user said of its table (an Ask; None: nothing)."""
    ask = (ask or Ask()).check()
    text = data or EMBEDDED
    if text == EMBEDDED or is_dataset(text):
        return Source(text, "embedded", text, "", ask)
    if text.startswith("runs:/"):
        kind = "run"
    elif "://" not in text:
        kind = "file"
    elif text.split("://", 1)[0] in ("http", "https"):
        kind = "http"
    else:
        kind = "fsspec"
    path = text if kind == "file" else urlsplit(text).path
    return Source(text, kind, redact(text), FORMATS.get(Path(path).suffix.lower(), ""), ask)


DATASET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # no dot, no slash: never a file's


def is_dataset(text):
    """Whether ``text`` names a dataset a plugin registered (and no file here is named so)."""
    import os

    if not DATASET_NAME.match(text) or os.path.exists(text):
        return False
    from ..estimators import plugins

    return plugins.catalogue().dataset(text) is not None


def scrub(message, src):
    """An error message with the secret parts of ``src`` taken out."""
    message = message.replace(src.text, src.safe)
    parts = urlsplit(src.text)
    for secret in (parts.query, parts.password):
        if secret:
            message = message.replace(secret, "***")
    return message
