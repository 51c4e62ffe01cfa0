"""trackfit: train, track, compare and register regression models with MLflow."""

__version__ = "0.1.0"


class TrackfitError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""
