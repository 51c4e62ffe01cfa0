"""Provenance: what a run records so it can be reproduced, and the code state it ran on."""

import platform
import subprocess
from functools import lru_cache

from . import project, tags as tagnames


def _git(*args, folder):
    """The output of ``git ARGS`` in ``folder``, or None outside a git repository."""
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True,
                              timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@lru_cache(maxsize=None)
def code_state():
    """(commit, dirty) of trackfit's checkout; (None, None) when installed or not in git.

    Dirty means uncommitted changes to tracked files; new untracked files (a data file,
    mlflow.db) do not count. Asked once per process: main's training runs share the answer.
    """
    folder = project.checkout()
    commit = _git("rev-parse", "HEAD", folder=folder) if folder else None
    if not commit:
        return None, None
    changes = _git("status", "--porcelain", "--untracked-files=no", folder=folder)
    return commit, bool(changes)


def tags():
    """The tags every training run gets: Python version, and the git commit when there is one."""
    out = {tagnames.PYTHON_VERSION: platform.python_version()}
    commit, dirty = code_state()
    if commit:
        out.update({tagnames.GIT_COMMIT: commit, tagnames.GIT_DIRTY: str(dirty).lower()})
    return out
