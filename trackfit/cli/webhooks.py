"""``trackfit webhook add|list|test|remove``: the team hears when the champion moves.

MLflow's registry webhooks (a SQL-backed store behind a tracking server): the server posts
an HMAC-signed JSON event to each webhook's URL, e.g. ``model_version_alias.created`` with
the model name, alias and version when ``register`` moves ``champion``. The secret that signs
the events is read from a file (``--secret-file``), never taken as an argument, and never
shown: not in listings, messages or errors.

MLflow's server delivers only to https URLs on public addresses unless it was started with
MLFLOW_WEBHOOK_ALLOWED_SCHEMES and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true (its SSRF guard);
``scripts/server.sh`` sets both for TRACKFIT_WEBHOOK_PRIVATE=1.
"""

from urllib.parse import urlsplit

from .. import ServerError, TrackfitError, UsageError, first_line

ACTIONS = ("add", "list", "test", "remove")
# Short names for the events a promotion makes; any MLflow "entity.action" works too.
EVENTS = {"alias": "model_version_alias.created", "version": "model_version.created",
          "model": "registered_model.created"}
PRIVATE = "TRACKFIT_WEBHOOK_PRIVATE=1"
REFUSED = ("Invalid webhook URL scheme", "private", "not a public IP", "resolves to",
           "Invalid webhook URL")


def webhook(action, target="", events="alias", secret_file="", name=""):
    """Manage the tracking server's registry webhooks; ``target`` is the URL (add) or the
    webhook id (test, remove)."""
    if action not in ACTIONS:
        raise UsageError(f"webhook: unknown action '{action}'", fix="use one of "
                         f"{', '.join(ACTIONS)}")
    _server_store()
    secret = _secret(secret_file) if action == "add" else None
    try:
        if action == "add":
            return add(target, events, secret, name)
        if action == "list":
            return listing()
        if not target:
            raise UsageError(f"webhook {action} needs the webhook id "
                             "(trackfit webhook list shows them)")
        return test(target) if action == "test" else remove(target)
    except TrackfitError:
        raise
    except Exception as exc:
        kind = _kind(exc)
        error = UsageError if kind in ("absent", "invalid") else ServerError
        raise error(_hide(f"webhook {action}: {_explained(exc, target, kind)}", secret)) \
            from None


def _client():
    from ..tracking.runs import client

    return client()


def _server_store():
    from ..tracking import store

    uri = store.tracking_uri()
    if urlsplit(uri).scheme not in ("http", "https"):
        raise UsageError(
            f"webhooks live on a tracking server, and the tracking URI is {store.scrub(uri)}",
            fix="set MLFLOW_TRACKING_URI to the team server (make server)")


def _secret(path):
    """The signing secret from ``path``: one line, at least 16 characters."""
    if not path:
        raise UsageError("webhook add needs --secret-file: a file holding the secret the "
                         "server signs each event with (e.g. openssl rand -hex 32 > "
                         "hook.secret)")
    try:
        with open(path) as handle:
            secret = handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read the secret file {path}: {exc.strerror}") from None
    if len(secret) < 16 or "\n" in secret:
        raise UsageError(f"the secret file {path} must hold one line of at least 16 "
                         "characters")
    return secret


def _events(text):
    from mlflow.entities.webhook import WebhookEvent

    found = []
    for item in [e.strip() for e in text.split(",") if e.strip()]:
        full = EVENTS.get(item, item)
        try:
            found.append(WebhookEvent.from_str(full))
        except Exception:
            raise UsageError(
                f"unknown webhook event '{item}'", fix=f"use {', '.join(EVENTS)} or MLflow's "
                "entity.action (e.g. model_version_tag.set)") from None
    if not found:
        raise UsageError("webhook add needs at least one event, e.g. --events alias")
    return found


def add(url, events, secret, name=""):
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"webhook add needs an http(s) URL, got {url!r}")
    if parts.password:
        raise UsageError("the webhook URL must not hold a password", fix="the secret file signs "
                         "the events")
    wanted = _events(events)
    hook = _client().create_webhook(
        name=name or f"trackfit-{parts.hostname}", url=url, events=wanted, secret=secret,
        description="added by trackfit webhook add")
    print(f"webhook: added {hook.webhook_id} -> {url} "
          f"({', '.join(_event_name(e) for e in hook.events)}), signed with the secret in the "
          "file given")
    return {"webhook_id": hook.webhook_id, "url": url,
            "events": [_event_name(e) for e in hook.events]}


def listing():
    hooks = list(_client().list_webhooks())
    for hook in hooks:
        status = getattr(hook.status, "value", hook.status)
        print(f"{hook.webhook_id}  {status:<8} {hook.url}  "
              f"{','.join(_event_name(e) for e in hook.events)}  {hook.name}")
    if not hooks:
        print("webhook: none; add one: trackfit webhook add URL --events alias "
              "--secret-file FILE")
    return [{"webhook_id": h.webhook_id, "url": h.url, "name": h.name,
             "events": [_event_name(e) for e in h.events]} for h in hooks]


def test(webhook_id):
    """The server posts an example event to the webhook: one line either way."""
    hook = _client().get_webhook(webhook_id)
    result = _client().test_webhook(webhook_id)
    if result.success:
        print(f"webhook: {webhook_id} -> {hook.url}: delivered, HTTP {result.response_status}")
        return {"webhook_id": webhook_id, "success": True, "status": result.response_status}
    why = (f"HTTP {result.response_status}" if result.response_status
           else _reason(result.error_message or "no response"))
    raise ServerError(f"webhook {webhook_id} -> {hook.url}: not delivered ({why})", fix="the "
                      "receiver must be up and answer 2xx; events sent while it is down "
                      "are not sent again, the registry itself is unchanged")


def remove(webhook_id):
    hook = _client().get_webhook(webhook_id)
    _client().delete_webhook(webhook_id)
    print(f"webhook: removed {webhook_id} ({hook.url})")
    return {"webhook_id": webhook_id}


def _event_name(event):
    full = f"{event.entity.value}.{event.action.value}"
    short = {v: k for k, v in EVENTS.items()}
    return short.get(full, full)


def _reason(text):
    """A delivery error in a few words: 'connection refused', 'timed out', ..."""
    lowered = text.lower()
    for known in ("connection refused", "timed out", "name or service not known",
                  "not a public ip", "certificate verify failed"):
        if known in lowered:
            return known
    return first_line(Exception(text))[:200]


def _kind(exc):
    from ..tracking import store

    return store.classify(exc)


def _explained(exc, target, kind):
    """The line for a failure of the server, by its kind (store.classify). Which parameter
    an INVALID_PARAMETER_VALUE refuses only MLflow's own words tell (REFUSED)."""
    text = first_line(exc)
    if kind == "invalid" and any(word in text for word in REFUSED):
        return (f"the server will not deliver to {target}: it delivers only to https URLs on "
                f"public addresses ({text}); for a receiver on a private network start the "
                f"server with {PRIVATE} (scripts/server.sh sets MLFLOW_WEBHOOK_ALLOWED_SCHEMES "
                "and MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS)")
    if kind == "absent":
        return f"no webhook {target} (trackfit webhook list shows them)"
    if kind == "denied":
        return "the server refused: managing webhooks needs an admin login"
    return text


def _hide(text, secret):
    from ..tracking import store

    if secret:
        text = text.replace(secret, "***")
    return store.scrub(text)
