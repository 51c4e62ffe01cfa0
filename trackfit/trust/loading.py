"""Loading the checked bytes: skops trusting the approved types and no more (or a flavor's
own text format), then the walk and the plugins' validate checks.
"""

import hashlib
import io

from .. import first_line
from .policy import Refused, declared_types, plugin_specs, preprocessing_types
from .sizes import unpacked


def digest(data):
    """The SHA-256 of ``data``, as hex: what names the bytes that were checked."""
    return hashlib.sha256(data).hexdigest()


def load_bytes(data, plan):
    """The model in ``data`` (the bytes of the checked file), loaded and validated.

    What skops would read is capped first (``unpacked``); skops loads it trusting the
    approved types and no more; types the file holds beyond them are refused before
    anything is built. Raises Refused.
    """
    return load_approved(data, plan)[0]


def load_approved(data, plan):
    """``load_bytes``: (the model, what the installed plugins approved for these bytes).

    The approval is what Spark's ``Scorer`` (engines/scoring.py) gives executors with the
    bytes: the types skops may trust and the validate checks the model passed, so an
    executor asks no plugins of its own (``load_shipped``).
    """
    approved = set(plan["trusted_types"]) & declared_types(plan["flavor"])
    if set(plan["trusted_types"]) - approved:
        raise Refused(f"its MLmodel tells skops to trust "
                      f"{', '.join(sorted(set(plan['trusted_types']) - approved))}, which no "
                      "installed plugin declares")
    model, found = load_trusting(data, plan, approved)
    checks = _validate(model, plan, found)
    return model, {"trusted_types": sorted(approved), "checks": checks}


def load_shipped(data, plan, approval):
    """The model in ``data`` as the driver approved it (``load_approved``'s approval): what
    a Spark executor runs, asking no plugins of its own. Raises Refused."""
    if digest(data) != plan["sha256"]:
        raise RuntimeError("the model bytes changed on their way to the executor")
    model, _ = load_trusting(data, plan, approval["trusted_types"])
    for name, check in approval["checks"]:
        run_check(model, name, check)
    return model


def load_trusting(data, plan, approved):
    """(the model in ``data``, the unsafe types it holds), skops trusting ``approved`` and
    no more. Asks no plugin: an executor runs it with the types the driver approved. What
    skops would read is capped first (``unpacked``)."""
    if plan["format"] != "skops":
        return _load_own_format(data, plan), {plan["format"]}
    import skops.io

    unpacked(io.BytesIO(data), len(data))
    try:
        found = set(skops.io.get_untrusted_types(data=data))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - not a skops file at all
        raise Refused(f"its model file is not a skops file ({type(exc).__name__})") from None
    extra = sorted(found - set(approved))
    if extra:
        raise Refused(f"its model file holds {', '.join(extra)}, which its MLmodel does not "
                      "list as trusted")
    try:
        model = skops.io.loads(data, trusted=sorted(approved))
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a crafted file
        raise Refused(f"its model file cannot be loaded ({type(exc).__name__}: "
                      f"{first_line(exc)})") from None
    return model, found


def _load_own_format(data, plan):
    if plan["format"] == "lightgbm.basic.Booster":
        import lightgbm

        try:
            return lightgbm.Booster(model_str=data.decode("utf-8"))
        except Exception as exc:  # noqa: BLE001 - a crafted file
            raise Refused(f"its model file cannot be loaded ({type(exc).__name__})") from None
    raise Refused("its model is in a format trackfit does not know how to load")


def _validate(model, plan, unsafe):
    """Walk the loaded model (trackfit.estimators.checks), then run its plugin's validate;
    the checks run, [(estimator name, check), ...], the walk first.

    ``unsafe``: the types skops calls unsafe that the file holds (for a flavor's own format,
    that format). The model's class must be one an installed plugin registers; nothing in
    the model runs before the walk ends.
    """
    import functools

    from ..estimators import checks as walks

    estimator = walks.estimator(model)
    kind = type(estimator)
    name = f"{kind.__module__}.{kind.__qualname__}"
    if estimator is not model:
        name = f"Pipeline whose estimator is a {name}"
    specs = [spec for spec in plugin_specs() if spec.flavor == plan["flavor"]]
    if plan["format"] == "skops":
        owners = [spec for spec in specs if _builds(spec) is kind]
    else:
        owners = [spec for spec in specs if plan["format"] in spec.trusted_types]
    if not owners:
        own = unsafe - set(preprocessing_types())
        held = f" holding {', '.join(sorted(own))}" if own else ""
        raise Refused(f"it is a {name}{held}, and no installed plugin registers that "
                      "estimator to check it")
    declared = set().union(*(spec.trusted_types for spec in owners))
    if unsafe - declared - set(preprocessing_types()):
        raise Refused(f"its {name} holds "
                      f"{', '.join(sorted(unsafe - declared - set(preprocessing_types())))}, which "
                      f"its plugin does not declare")
    validates = [(spec.name, _validate_of(spec, unsafe, kind in walks.known()))
                 for spec in owners]
    validates = [(owner, check if estimator is model else functools.partial(_of_estimator,
                                                                             check))
                 for owner, check in validates if check is not None]
    walk = functools.partial(walks.walk, declared=frozenset(declared),
                             vouched=bool(validates))
    checks = [(owners[0].name, walk)] + validates
    for owner, check in checks:
        run_check(model, owner, check)
    return checks


def _of_estimator(check, model):
    """A plugin's validate run on the estimator of a Pipeline (after the walk checked it)."""
    from ..estimators import checks as walks

    return check(walks.estimator(model))


def _validate_of(spec, unsafe, walked):
    """The plugin's validate for ``spec``; Refused if it trusts a type skops calls unsafe and
    gives none, unless the walk knows the model's class."""
    check = spec.load_validate()
    if check is None and not walked and unsafe & set(spec.trusted_types):
        raise Refused(
            f"estimator '{spec.name}' (plugin '{spec.plugin}') trusts "
            f"{', '.join(sorted(unsafe & set(spec.trusted_types)))}, which skops calls "
            "unsafe, and gives no validate check for its models")
    return check


def run_check(model, name, check):
    """``check(model)``, its failure a Refused naming the estimator ``name``."""
    try:
        check(model)
    except ValueError as exc:
        raise Refused(f"it fails the check of estimator '{name}': {first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - a crafted model a check did not expect
        raise Refused(f"it fails the check of estimator '{name}' "
                      f"({type(exc).__name__}: {first_line(exc)})") from None


_built = {}  # id(spec): (spec, its class); the spec held, so its id is not reused


def _builds(spec):
    """The class of the estimators ``spec`` builds, or None if it cannot be built here.

    Asked once per spec: a catalogue found again (plugins.reset) has specs of its own, whose
    drop-in modules are imported again, with classes of their own."""
    if id(spec) not in _built:
        try:
            factory = spec.load_factory()
            kind = factory if isinstance(factory, type) else type(factory())
        except Exception:  # noqa: BLE001 - a plugin whose library is missing builds nothing
            kind = None
        _built[id(spec)] = (spec, kind)
    return _built[id(spec)][1]
