"""`python -m trackfit` in a process of its own: exit codes and the one-line error format as a
user's shell sees them, and the in-process runner (``run_cli``) the other tests use saying
exactly what the command line says.

Each command here starts a new interpreter that imports MLflow and scikit-learn: slow. (Exit
0 through the command line: every `mlflow run` test, which fails on any other.)
"""


import pytest

from .conftest import cli
from .test_errors import assert_failed_run, assert_one_line_error

pytestmark = pytest.mark.slow


def test_bad_input_is_one_line_exit_2_and_the_run_failed(store, tmp_path):
    done = cli(store, "train", "--estimator", "linear", "--data", str(tmp_path / "nope.csv"))
    assert_one_line_error(done, "data file not found", "nope.csv")
    assert done.stderr.startswith("trackfit: error: ") and done.stdout == ""
    assert_failed_run(store, "train")


def test_traceback_shows_the_exception_and_exits_1(store):
    done = cli(store, "--traceback", "train", "--estimator", "tre")
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "EstimatorError: unknown estimator 'tre'" in done.stderr


# The lab leaves its store whole in one file when its process ends (no write-ahead log beside
# it, every run in it): tests/test_quickstart.py, after `make lab`.


# Each way a command ends, once: the in-process harness every other test uses must say what
# a new interpreter says.
@pytest.mark.parametrize("args", [
    ("train", "--estimator", "tre"),  # a failed run
    ("train", "--cv", "five"),  # refused before any run
    ("trian",),  # argparse: usage and exit 2
    ("--version",),
])
def test_in_process_the_command_line_says_the_same(store, run_cli, args):
    by_process = cli(store, *args)
    in_process = run_cli(*args)
    assert (in_process.returncode, in_process.stdout, in_process.stderr) == (
        by_process.returncode, by_process.stdout, by_process.stderr)
    assert by_process.returncode in (0, 1, 2)


def test_in_process_a_library_warning_reaches_stderr_as_in_a_shell(store, run_cli, tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "noisy.py").write_text(
        "import warnings\nwarnings.warn('noisy plugin says hello', UserWarning)\n"
        "warnings.warn('hidden by default', DeprecationWarning)\n")
    by_process = cli(store, "estimators", cwd=tmp_path)
    in_process = run_cli("estimators", cwd=tmp_path)
    assert by_process.returncode == in_process.returncode == 0
    assert "UserWarning: noisy plugin says hello" in by_process.stderr
    assert "hidden by default" not in by_process.stderr
    assert (in_process.stdout, in_process.stderr) == (by_process.stdout, by_process.stderr)
