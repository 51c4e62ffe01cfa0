"""The team server's login check (scripts/server.sh): MLflow's basic auth, and admins only on
the features that write without a permission check of their own.

MLflow 3.17.2's basic auth lets any logged-in user, READ-only ones too, generate the demo
experiment, change the AI assistant's configuration and call the gateway proxy; trackfit's
server uses none of them (SECURITY.md, tests/test_server_routes.py).
"""

ADMIN_ONLY = (
    "/ajax-api/3.0/mlflow/demo/",
    "/ajax-api/3.0/mlflow/assistant/",
    "/ajax-api/2.0/mlflow/gateway-proxy",
)


def authenticate_request():
    """``authorization_function`` of the server's basic_auth.ini."""
    from flask import request
    from mlflow.server import auth

    result = auth.authenticate_request_basic_auth()
    if request.path.startswith(ADMIN_ONLY) and not isinstance(result, auth.Response):
        user = auth.store.get_user(result.username)
        if not user.is_admin:
            return auth.make_forbidden_response()
    return result
