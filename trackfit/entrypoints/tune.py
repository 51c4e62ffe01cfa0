"""tune: search an estimator's hyperparameters with Optuna, each trial a nested child run.

Trials are scored by cross-validation on the training split only; the held-out split never
chooses. The best params are refitted as a training run nested under the tune run, so
compare and register see it as any other training run.
"""

from .. import engines
from ..engines.source import parse
from ..engines.table import Ask
from ..fitting import tuning
from ..fitting.split import Split


def tune(estimator="tree", space="", trials=20, search="tpe", n_jobs=0, trials_on="",
         data="diabetes", target="", features=(), ignore=(), categorical=(), missing="impute",
         test_size=Split.test_size, random_state=Split.random_state,
         cv=Split.cv, metric="cv_r2_score", spark=""):
    """One tune run; ``trials_on`` a Spark master to run the trials on (empty: worker
    processes of this machine), ``spark`` a Spark master to read the data with. ``n_jobs``:
    trials at once (0: one worker per core this process may use)."""
    ask = Ask(target, tuple(features), tuple(ignore), tuple(categorical), missing)
    return tuning.tune(estimator, space, trials, search, n_jobs, trials_on, parse(data, ask),
                       Split(test_size, random_state, cv), engines.choose(spark), metric)
