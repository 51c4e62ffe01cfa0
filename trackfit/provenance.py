"""Provenance: what a run records so it can be reproduced, and the code state it ran on."""

import platform
import subprocess
from functools import lru_cache

from .plugins import PROJECT_DIR

COMMIT_TAG = "trackfit.git_commit"
DIRTY_TAG = "trackfit.git_dirty"
PYTHON_TAG = "trackfit.python_version"


def _git(*args, folder=PROJECT_DIR):
    """The output of ``git ARGS`` in ``folder``, or None outside a git repository."""
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@lru_cache(maxsize=None)
def code_state(folder=PROJECT_DIR):
    """(commit, dirty) of the project's code; (None, None) when it is not in a git repository.

    Dirty means uncommitted changes to tracked files; new untracked files (a data file,
    mlflow.db) do not count. Asked once per process: main's training runs share the answer.
    """
    commit = _git("rev-parse", "HEAD", folder=folder)
    if not commit:
        return None, None
    changes = _git("status", "--porcelain", "--untracked-files=no", folder=folder)
    return commit, bool(changes)


def tags():
    """The tags every training run gets: Python version, and the git commit when there is one."""
    out = {PYTHON_TAG: platform.python_version()}
    commit, dirty = code_state()
    if commit:
        out.update({COMMIT_TAG: commit, DIRTY_TAG: str(dirty).lower()})
    return out
