"""trackfit's errors: what went wrong, the fix, and the exit code the command line gives.

Every error trackfit raises for something the user can act on is a :class:`TrackfitError`:
``problem`` says what went wrong, ``fix`` what to do about it (may be empty), and the class's
``code`` is the exit code of ``trackfit``. ``str(exc)`` is the one line the command line prints
after ``trackfit: error:``: ``"problem; fix"``, or the problem alone. Code reads the fields,
never the line.

    code  class          meaning
    1     TrackfitError  an error trackfit does not sort into one below (and any unexpected one)
    2     InputError     bad input: data, params, options, estimator names (argparse's usage
                         errors exit 2 as well)
    3     ModelRefused   a model trackfit will not load (the trust check)
    4     ServerError    the tracking store, the registry or another server failed or refused
    5     GateRefused    the promotion gate refused the challenger (register strict=true)
"""


class TrackfitError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits with ``code``."""

    code = 1

    def __init__(self, problem="", fix="", sep="; "):
        super().__init__(problem, fix, sep)  # all in args: it pickles whole (worker processes)
        self.problem = str(problem)
        self.fix = str(fix or "")
        self.sep = sep  # between the two in the line: "; " unless the sentence reads otherwise

    def __str__(self):
        return f"{self.problem}{self.sep}{self.fix}" if self.fix else self.problem


class InputError(TrackfitError):
    """Bad input: the command cannot run as given (an option, a param, a name, the data)."""

    code = 2


class UsageError(InputError):
    """An option, action or parameter out of range or unknown, or a missing extra."""


class DataError(InputError):
    """The data cannot be read or written, or is not a table trackfit can learn from."""


class EstimatorError(InputError):
    """An unknown estimator, hyperparameters it does not take, or a plugin's broken entry."""


class ModelRefused(TrackfitError):
    """A model trackfit will not load: the installed plugins do not vouch for it."""

    code = 3


class ServerError(TrackfitError):
    """A store or server trackfit needs failed, refused, or changed under it: run again or
    ask its admin."""

    code = 4


class StoreError(ServerError):
    """The tracking store or registry cannot do what was asked."""


class GateRefused(TrackfitError):
    """The promotion gate refused the challenger and the register run was ``strict``."""

    code = 5


def exit_code(exc):
    """The command line's exit code for ``exc``: its class's code, 1 for anything else."""
    return exc.code if isinstance(exc, TrackfitError) else 1
