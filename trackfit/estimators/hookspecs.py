"""The hooks a trackfit plugin can implement."""

from .. import hookspec


@hookspec
def register_estimators(register):
    """Register regression estimators.

    Call ``register(name, factory, defaults=None, description="", flavor="sklearn",
    trusted_types=(), search_space=None, validate=None, scaling=False,
    categories="onehot")`` once per estimator:

    - ``name``: what users pass as ``-P estimator=NAME`` (lower case, ``a-z0-9._-``).
    - ``factory``: a ``"module:attr"`` string, imported only when the estimator is
      used, or a callable returning a new estimator with the scikit-learn API.
    - ``defaults``: hyperparameters that differ from the factory's own defaults.
    - ``description``: one line shown by ``python -m trackfit estimators``.
    - ``flavor``: the MLflow flavor that saves the model (``mlflow.<flavor>``); in skops
      where the flavor offers it.
    - ``trusted_types``: type names skops may load for this model, beyond what the flavor
      trusts itself.
    - ``validate``: a callable or ``"module:attr"`` string taking the loaded model and
      raising ValueError with a reason when the model is not one predict can run safely.
      It runs after trackfit's walk (trackfit.estimators.checks), and checks the objects of
      the declared types the walk leaves to it. Required when ``trusted_types`` names a type
      skops calls unsafe (anything ``skops.io.get_untrusted_types`` lists) and the model's
      class is not one the walk has a rule for: without it such models are refused.
    - ``search_space``: what ``tune`` searches by default: a dict of hyperparameter names to
      ranges in the ``-P space=`` syntax (``{"alpha": "loguniform(1e-3,100)"}``) or lists of
      choices (``{"max_depth": [2, 4, None]}``). None: nothing worth tuning.

    - ``scaling``: True when the estimator needs its numbers scaled (linear models, SVR,
      k-NN): on a table other than the lab's, the pipeline scales them first.
    - ``categories``: ``"onehot"`` (the default): text columns reach the estimator as one
      column per value; ``"ordinal"``: one column each, the value's code (the most
      frequent where missing, -1 where unseen: trees); ``"native"``: as ordinal codes
      (missing and unseen values NaN) in the first columns, one column each (hist-gb).

    docs/plugins.md has the whole contract.
    """


@hookspec
def register_datasets(register):
    """Register named datasets: what users pass as ``data=NAME``.

    Call ``register(name, loader, target, description="")`` once per dataset:

    - ``name``: what users pass as ``-P data=NAME`` (lower case, ``a-z0-9._-``).
    - ``loader``: a ``"module:attr"`` string, imported only when the dataset is read, or a
      callable; called with no arguments it returns the rows as a pandas DataFrame.
    - ``target``: the column ``data=NAME`` predicts unless the user names another.
    - ``description``: one line shown by ``python -m trackfit datasets``.
    """
