"""trackfit: train, track, compare and register regression models with MLflow."""

__version__ = "0.1.0"


class TrackfitError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""


def first_line(exc, default=None):
    """The first line of an exception's message: what a one-line error quotes of it.

    ``default`` when the message is empty (the exception's type name unless given).
    """
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if default is None else default
