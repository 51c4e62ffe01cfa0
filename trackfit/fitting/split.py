"""The lab's split: one value for the held-out share, the seed and the folds."""

from dataclasses import dataclass

from .. import UsageError
from ..engines.scoring import block
from ..engines.source import FEATURES, TARGET


@dataclass(frozen=True)
class Split:
    """``test_size`` of the rows held out (train_test_split with ``random_state``), and
    ``cv`` folds of cross-validation on the rest (0: none)."""

    test_size: float = 0.3
    random_state: int = 0
    cv: int = 5

    def check(self):
        """The split itself, or a TrackfitError naming the bad value."""
        if not 0 < self.test_size < 1:
            raise UsageError(f"test_size must be between 0 and 1, got {self.test_size}")
        if not 0 <= self.random_state < 2**32:  # what scikit-learn takes as a seed
            raise UsageError("random_state must be a whole number from 0 to 4294967295, "
                             f"got {self.random_state}")
        if self.cv == 1 or self.cv < 0:
            raise UsageError(f"cv must be 0 (off) or at least 2 folds, got {self.cv}")
        return self

    def params(self):
        return {"test_size": self.test_size, "random_state": self.random_state, "cv": self.cv}


def positions(rows, how):
    """(train, test): the row positions out of ``rows`` that ``how`` trains on and holds out."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(rows), test_size=how.test_size,
                            random_state=how.random_state)


def split(frame, how, table=None):
    """The rows train_test_split picks, taken once by index: X_train, X_test, y_train, y_test.

    For the lab's table (``table`` None or lab) each X is a frame of one float64 block of
    the features; for any other table, the feature columns as the model reads them raw.
    """
    train_rows, test_rows = positions(len(frame), how)
    if table is not None and not table.lab:
        y = frame[table.target].to_numpy(dtype="float64")
        X = frame[table.features]
        return (X.iloc[train_rows].reset_index(drop=True),
                X.iloc[test_rows].reset_index(drop=True), y[train_rows], y[test_rows])
    y = frame[TARGET].to_numpy()
    return (block(frame, FEATURES, train_rows), block(frame, FEATURES, test_rows),
            y[train_rows], y[test_rows])
