"""The engine seam: everything a step asks of a data engine, declared once.

Like MLflow's project backends (``mlflow.projects.backend.AbstractBackend``): an abstract
base class whose methods are the whole contract. ``PandasEngine`` (engines/pandas.py) and
``SparkEngine`` (engines/spark.py) implement every one of them; steps get one from
``engines.choose`` and never ask which it is.
"""

import abc
from dataclasses import dataclass

SHOWN = 20  # rows Spark shows when predict writes no output (pandas shows them all)


@dataclass
class Scored:
    """What an engine's ``score`` gives back, the same kind on every engine.

    ``rows``: how many rows were scored; ``output``: where they were written ('' when they
    are shown instead); ``preview``: the scored rows as a pandas frame, the input columns
    with ``prediction`` added: every row on pandas, the first ``SHOWN`` on Spark when they
    are shown, and none (only the columns) on Spark when they were written: the rest of
    Spark's rows stay in Spark.
    """

    rows: int
    output: str
    preview: object


class Engine(abc.ABC):
    """A data engine: reads and validates a source, scores rows with a checked model, and
    says where tuning trials run. ``name`` is what it is called ('pandas', 'spark')."""

    name = ""

    @abc.abstractmethod
    def params(self):
        """What a run logs of the engine, as MLflow params ({} for the default)."""

    @abc.abstractmethod
    def load(self, src, require_target=True):
        """(the validated pandas frame, its MLflow dataset, its Table) of the source ``src``."""

    @abc.abstractmethod
    def check_output(self, output):
        """Refuse an ``output`` this engine cannot write, before any row is read."""

    @abc.abstractmethod
    def score(self, src, model, needed, output, label, text=()):
        """Score ``src`` with the checked model folder ``model`` (its input columns
        ``needed``, ``text`` of them read as text; ``label`` names it in errors), writing
        to ``output`` if given: a ``Scored``. Complete or nothing: no half-written output."""

    @abc.abstractmethod
    def show(self, scored):
        """Print the ``Scored`` rows of a predict without output."""

    @abc.abstractmethod
    def note(self):
        """What an error line adds about this engine (' (Spark's log: <file>)'), or ''."""

    @abc.abstractmethod
    def check_trials(self):
        """Refuse, before any run, tuning trials this engine cannot run (a missing extra)."""

    @abc.abstractmethod
    def trials(self):
        """Where tuning trials run: the joblib backend, set up and ready ('loky': worker
        processes of this machine; 'spark': this engine's executors)."""
