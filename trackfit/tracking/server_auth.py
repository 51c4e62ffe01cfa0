"""The team server's login check (scripts/server.sh): MLflow's basic auth, admins only on
the features that write without a permission check of their own, and the exam guarded like
the alias.

MLflow 3.17.2's basic auth lets any logged-in user, READ-only ones too, generate the demo
experiment, change the AI assistant's configuration and call the gateway proxy; trackfit's
server uses none of them (SECURITY.md, tests/test_server_routes.py).

The tags ``trackfit.exam.*`` of a registered model are the rows the gate scores on (exam.py):
setting one takes what setting the alias takes (MLflow's check for SetRegisteredModelAlias:
edit rights on the model and read on its versions), removing one what removing the alias
takes, and ``trackfit.exam.by`` must name the login that writes it.
"""

ADMIN_ONLY = (
    "/ajax-api/3.0/mlflow/demo/",
    "/ajax-api/3.0/mlflow/assistant/",
    "/ajax-api/2.0/mlflow/gateway-proxy",
)
EXAM = "trackfit.exam."
SET_TAG, DELETE_TAG = "/mlflow/registered-models/set-tag", "/mlflow/registered-models/delete-tag"
CREATE = "/mlflow/registered-models/create"


def authenticate_request():
    """``authorization_function`` of the server's basic_auth.ini."""
    from flask import g, request
    from mlflow.server import auth

    result = auth.authenticate_request_basic_auth()
    if isinstance(result, auth.Response) or g.get("trackfit_checking"):
        return result
    if request.path.startswith(ADMIN_ONLY):
        user = auth.store.get_user(result.username)
        if not user.is_admin:
            return auth.make_forbidden_response()
    written = exam_tags(request)
    if written:
        g.trackfit_checking = True  # MLflow's checks below authenticate again, through here
        try:
            if not exam_allowed(request.path, written, result.username, auth):
                return auth.make_forbidden_response()
        finally:
            g.trackfit_checking = False
    return result


def exam_tags(request):
    """{key: value} of the exam tags the request writes or removes (value None), else {}."""
    path = request.path
    if not path.endswith((SET_TAG, DELETE_TAG, CREATE)):
        return {}
    body = request.get_json(silent=True) if request.is_json else None
    body = body if isinstance(body, dict) else dict(request.args)
    if path.endswith(CREATE):
        return {str(t.get("key")): t.get("value") for t in body.get("tags") or []
                if isinstance(t, dict) and str(t.get("key", "")).startswith(EXAM)}
    key = str(body.get("key", ""))
    return {key: body.get("value")} if key.startswith(EXAM) else {}


def exam_allowed(path, written, username, auth):
    """Whether ``username`` may write the exam tags ``written`` by this request."""
    if EXAM + "by" in written and not path.endswith(DELETE_TAG) and \
            written[EXAM + "by"] != username:
        return False
    if auth.store.get_user(username).is_admin or path.endswith(CREATE):
        return True  # a new model's creator may set its alias too
    if path.endswith(DELETE_TAG):
        return auth.validate_can_delete_model_or_prompt_version_alias()
    return auth.validate_can_set_model_or_prompt_version_alias()
