"""A data source, parsed once: the embedded copy, a file, a URL or a run's artifact.

Also the lab's columns: every engine reads a source into these, as float64.
"""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

FEATURES = ["AGE", "SEX", "BMI", "BP", "S1", "S2", "S3", "S4", "S5", "S6"]
TARGET = "Y"
ALIASES = {"TARGET": TARGET}
EMBEDDED = "diabetes"
EMBEDDED_SOURCE = "sklearn.datasets.load_diabetes(scaled=False)"
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".txt": "tsv"}


@dataclass(frozen=True)
class Source:
    """A data source, parsed once: what the user gave, what it is, and what is safe to show."""

    text: str  # as given; may hold credentials, so never logged or printed
    kind: str  # embedded, file, run (runs:/ artifact), http, or fsspec (any other URL)
    safe: str  # the text with any password and query string (a SAS token, say) removed
    format: str  # parquet, csv or tsv; "" for the embedded copy or when the name does not say

    def __str__(self):
        return self.safe


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


def parse(data):
    """The Source for what the user gave as ``data``: parsed once, at the command line."""
    text = data or EMBEDDED
    if text == EMBEDDED:
        return Source(text, "embedded", EMBEDDED, "")
    if text.startswith("runs:/"):
        kind = "run"
    elif "://" not in text:
        kind = "file"
    elif text.split("://", 1)[0] in ("http", "https"):
        kind = "http"
    else:
        kind = "fsspec"
    path = text if kind == "file" else urlsplit(text).path
    return Source(text, kind, redact(text), FORMATS.get(Path(path).suffix.lower(), ""))


def scrub(message, src):
    """An error message with the secret parts of ``src`` taken out."""
    message = message.replace(src.text, src.safe)
    parts = urlsplit(src.text)
    for secret in (parts.query, parts.password):
        if secret:
            message = message.replace(secret, "***")
    return message
