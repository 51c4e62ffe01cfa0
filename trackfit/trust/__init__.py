"""What a model must show before trackfit loads it.

Plugins are code: installing one is trusting it. Models are data: anyone who can write to the
tracking store or the registry can put one there, and loading a pickle runs whatever it says.
So before a model is loaded, trackfit downloads it (nothing is deserialised by downloading),
reads its MLmodel as YAML and loads the model only when:

- its flavor is one an installed plugin registered (``EstimatorSpec.flavor``);
- it is saved in skops, or in the flavor's own non-pickle format (a LightGBM Booster's text
  model), never pickle or cloudpickle;
- the types its MLmodel tells skops to trust are ones the installed plugins declare
  (``EstimatorSpec.trusted_types``) or that skops trusts for scikit-learn itself;
- it names no loader module but its flavor's, brings no code of its own, and no file it
  names leads out of the model's folder (MLflow refuses to download a link that does).

- the folder holds one MLmodel and no link, and every file its MLmodel names for loading is
  the flavor's own model file (``model.skops``, a Booster's ``model.lgb``): a second MLmodel
  in a sub-folder would make MLflow read its format from there;
- the model file holds no type skops calls unsafe beyond what the MLmodel lists;
- once loaded, the model's class is one an installed plugin registered, and the whole
  object passes the walk (trackfit.estimators.checks: every object a type allowed where it
  is, every array compiled code reads checked, ``n_jobs`` capped), then its plugin's
  ``validate``, if it gives one (required for a type skops calls unsafe that the walk does
  not know).
- what skops would read from the model file (each member once per object naming it) is
  within a cap set by the file's own size (``unpacked``), counted before it reads any;
- its first load and a predict of a few rows, in a child process with capped memory, time
  and threads (``_probe``), do not kill that process.

What was checked is what runs: trackfit loads the model file itself, with
``skops.io.loads(data, trusted=<the types approved>)`` (or the flavor's own text loader),
from the bytes it checked, and rebuilds a folder holding only an MLmodel trackfit wrote
(loader ``trackfit.trust``) and that file. Everything that loads the model (pandas predict,
pyfunc, Spark executors, ``mlflow models serve``) loads that folder or those bytes through
this package, so MLflow's guard (MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false) stays on: no
MLflow flavor loader ever reads the model. ``--trust-model`` or ``TRACKFIT_TRUST_MODELS=1``
skips the check, for a store you control.

A step that loads a model uses ``with checked(model_uri, trust) as source:`` and gives ``source`` (the rebuilt folder, or
``model_uri`` itself with trust) to ``scoring.predictor``, ``scoring.scorer`` (Spark) or
``mlflow models serve``; the folder is removed when the block ends.

The package, by concern: who vouches (``policy``), what an MLmodel and its folder may say
(``mlmodel``), what a model file may unpack to (``sizes``), loading and validating the
checked bytes (``loading``), the forked probe (``probing``), ``checked`` itself
(``rebuild``), and loading a rebuilt folder (``runtime``). This package is the
``loader_module`` of every folder ``checked`` rebuilds: it re-exports ``_load_pyfunc``.
"""

from .loading import digest, load_bytes, load_shipped
from .mlmodel import MODEL_FILES, signature_inputs
from .policy import (FIX, GUARD_ENV, TRUST_ENV, Refused, guarded, own_model, quiet_downloads,
                     trusted)
from .probing import PROBE_IMPORTS, start_probe
from .rebuild import checked
from .runtime import LOADER, _load_pyfunc, approved, load_model
from .sizes import MAX_UNPACKED, UNPACK_FLOOR, UNPACK_RATIO, unpacked

__all__ = ["FIX", "GUARD_ENV", "LOADER", "MAX_UNPACKED", "MODEL_FILES", "PROBE_IMPORTS",
           "TRUST_ENV", "UNPACK_FLOOR", "UNPACK_RATIO", "Refused", "_load_pyfunc", "approved",
           "checked", "digest", "guarded", "load_bytes", "load_model", "load_shipped",
           "own_model", "quiet_downloads", "signature_inputs", "start_probe", "trusted",
           "unpacked"]
