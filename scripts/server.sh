#!/usr/bin/env bash
# A team tracking server on loopback: PostgreSQL in .server/ and `mlflow server` on top of it,
# with artifacts served from .server/artifacts.
#
#   scripts/server.sh start        install PostgreSQL if missing, initdb once, start both
#   scripts/server.sh stop         stop both (data stays in .server/)
#   scripts/server.sh status       what is running, and the tracking URI
#   scripts/server.sh uri          the tracking URI (http://127.0.0.1:<port>)
#   scripts/server.sh backend-uri  the PostgreSQL URI the tracking server uses
#   scripts/server.sh db-restart   restart PostgreSQL only, under the running tracking server
#   scripts/server.sh check        whether `start` would bind TRACKFIT_SERVER_HOST (see Doors)
#
# Settings (environment): TRACKFIT_SERVER_PORT (5005), TRACKFIT_PG_PORT (5433),
# TRACKFIT_SERVER_DIR (.server), TRACKFIT_SERVER_WORKERS (4), TRACKFIT_WEBHOOK_PRIVATE=1 (see
# Webhooks below), TRACKFIT_SERVER_AUTH=1 for
# MLflow's basic-auth app (user `admin`, password in .server/admin-password unless
# MLFLOW_AUTH_ADMIN_PASSWORD is set), MLFLOW (the mlflow command; default: the one on PATH).
#
# Doors: TRACKFIT_SERVER_HOST (127.0.0.1) is the address mlflow server binds; anything but
# loopback is refused unless TRACKFIT_SERVER_AUTH=1, since whoever reaches the server can
# register a model. PostgreSQL always listens on 127.0.0.1 only. MLflow accepts requests whose
# Host header is this server's own (127.0.0.1:<port>, localhost:<port>, <host>:<port>) or one
# in TRACKFIT_SERVER_ALLOWED_HOSTS (comma-separated, e.g. mlflow.example.com:5005), and
# state-changing requests from web pages of localhost or TRACKFIT_SERVER_CORS_ORIGINS only.
# Secrets live in files of mode 0600 and reach the processes through their environment.
#
# Webhooks (trackfit webhook add): MLflow signs each event with the webhook's secret, which it
# keeps encrypted in PostgreSQL with the key in .server/webhook-key (made once, so every worker
# and every restart reads the same secrets). It delivers only to https URLs on public
# addresses; TRACKFIT_WEBHOOK_PRIVATE=1 also lets it post to http URLs and to private,
# loopback and link-local addresses (MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https and
# MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true): a CI receiver on the team's own network, and also
# anything else the server's host can reach, cloud metadata included, for whoever may add a
# webhook (an admin, with TRACKFIT_SERVER_AUTH=1).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=$(mkdir -p "${TRACKFIT_SERVER_DIR:-.server}" && cd "${TRACKFIT_SERVER_DIR:-.server}" && pwd)
HOST=${TRACKFIT_SERVER_HOST:-127.0.0.1}
PG_HOST=127.0.0.1
PORT=${TRACKFIT_SERVER_PORT:-5005}
PG_PORT=${TRACKFIT_PG_PORT:-5433}
WORKERS=${TRACKFIT_SERVER_WORKERS:-4}
AUTH=${TRACKFIT_SERVER_AUTH:-}
MLFLOW=${MLFLOW:-mlflow}
PYTHON=$(dirname "$(command -v "$MLFLOW")")/python
[ -x "$PYTHON" ] || PYTHON=python3
PGHOME=$DIR/pg  # owned by the user PostgreSQL runs as
PGDATA=$PGHOME/data
PGRUN=$PGHOME/run
PGLOG=$PGHOME/postgresql.log
PG_USER=mlflow

say() { echo "server: $*"; }
die() { echo "server: error: $*" >&2; exit 1; }

# Whether clients reach $1 on this machine only: an address that is loopback, or a name all of
# whose addresses are (127.0.0.1.nip.io is a name, not an address). A name that does not
# resolve is not loopback.
loopback() {
    "$PYTHON" - "$1" <<'EOF'
import ipaddress, socket, sys
host = sys.argv[1].removeprefix("[").removesuffix("]")
try:
    addresses = {ipaddress.ip_address(host)}
except ValueError:
    try:
        addresses = {ipaddress.ip_address(info[4][0].split("%")[0])
                     for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError, ValueError):
        addresses = set()
sys.exit(0 if addresses and all(address.is_loopback for address in addresses) else 1)
EOF
}

# The address clients on this machine use: the bound one, or loopback for a wildcard bind.
client_host() { case "$HOST" in 0.0.0.0|::|'[::]') echo 127.0.0.1 ;; *) echo "$HOST" ;; esac; }

check_doors() {
    loopback "$HOST" || [ -n "$AUTH" ] ||
        die "will not bind the tracking server to $HOST without logins: anyone who reaches it could register a model that every predict then loads. Set TRACKFIT_SERVER_AUTH=1, or keep TRACKFIT_SERVER_HOST=127.0.0.1"
}

pg_bindir() {
    local found
    found=$(command -v pg_ctl 2>/dev/null || true)
    [ -n "$found" ] || found=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1)
    [ -n "$found" ] && dirname "$(readlink -f "$found")"
}

install_postgresql() {
    [ -n "$(pg_bindir)" ] && return
    [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; install Debian's postgresql package"
    say "installing PostgreSQL (apt-get)"
    # Only the binaries: no system-wide cluster on port 5432.
    mkdir -p /etc/postgresql-common
    [ -e /etc/postgresql-common/createcluster.conf ] ||
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    [ -n "$(pg_bindir)" ] || die "apt-get installed postgresql but pg_ctl is not in /usr/lib/postgresql/*/bin"
}

# PostgreSQL refuses to run as root: as root, run it as the unprivileged `postgres` user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg() { local tool=$1; shift; as_pg "$(pg_bindir)/$tool" "$@"; }

# A random secret in $DIR/<name>, readable by its owner only, made once.
secret() { [ -f "$DIR/$1" ] || (umask 077 && "$PYTHON" -c "import secrets; print(secrets.token_hex(16))" > "$DIR/$1"); chmod 600 "$DIR/$1"; }

pg_password() { cat "$DIR/pg-password"; }

backend_uri() { echo "postgresql+psycopg2://$PG_USER:$(pg_password)@$PG_HOST:$PG_PORT/$1"; }

pg_running() { [ -f "$PGDATA/postmaster.pid" ] && pg pg_ctl status -D "$PGDATA" >/dev/null 2>&1; }

pg_init() {
    [ -f "$PGDATA/PG_VERSION" ] && return
    say "initdb in $PGDATA"
    secret pg-password
    mkdir -p "$PGDATA" "$PGRUN"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres "$PGHOME"
        chown postgres "$DIR/pg-password"
        as_pg test -x "$DIR" || die "user postgres cannot reach $DIR; make its parent folders world-executable"
    fi
    pg initdb -D "$PGDATA" -U "$PG_USER" --pwfile="$DIR/pg-password" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 ||
        die "initdb failed, see $DIR/initdb.log"
}

pg_start() {
    pg_running && return
    pg pg_ctl start -D "$PGDATA" -w -t 60 -l "$PGLOG" \
        -o "-c listen_addresses=$PG_HOST -p $PG_PORT -k $PGRUN" >/dev/null ||
        die "PostgreSQL did not start, see $PGLOG"
    local db
    for db in mlflow mlflow_auth; do
        PGPASSWORD=$(pg_password) "$(pg_bindir)/psql" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" \
            -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
            PGPASSWORD=$(pg_password) "$(pg_bindir)/createdb" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$db"
    done
    say "PostgreSQL on $PG_HOST:$PG_PORT, data in $PGDATA"
}

pg_stop() { pg_running && pg pg_ctl stop -D "$PGDATA" -m fast -w >/dev/null || true; }

mlflow_pid() { [ -f "$DIR/mlflow.pid" ] && kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null && cat "$DIR/mlflow.pid"; }

healthy() {
    "$PYTHON" - "http://$(client_host):$PORT/health" <<'EOF' 2>/dev/null
import sys, urllib.request
sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)
EOF
}

mlflow_start() {
    [ -n "$(mlflow_pid || true)" ] && return
    command -v "$MLFLOW" >/dev/null || die "no '$MLFLOW' command; install trackfit's server extra: pip install -e '.[server]'"
    "$PYTHON" -c "import psycopg2" 2>/dev/null || die "the PostgreSQL driver is missing; pip install -e '.[server]'"
    [ -z "$AUTH" ] || "$PYTHON" -c "import trackfit.tracking.server_auth" 2>/dev/null ||
        die "the login check needs trackfit in the server's Python; pip install -e '.[server]'"
    local app=()
    if [ -n "$AUTH" ]; then
        secret admin-password
        secret flask-secret-key
        export MLFLOW_FLASK_SERVER_SECRET_KEY=${MLFLOW_FLASK_SERVER_SECRET_KEY:-$(cat "$DIR/flask-secret-key")}
        # Written under umask 077: never readable by others, not even for a moment.
        (umask 077 && cat > "$DIR/basic_auth.ini") <<EOF
[mlflow]
default_permission = READ
database_uri = $(backend_uri mlflow_auth)
admin_username = admin
admin_password = ${MLFLOW_AUTH_ADMIN_PASSWORD:-$(cat "$DIR/admin-password")}
# MLflow's basic auth, with the demo generator, the assistant and the gateway proxy for admins
# only: they write without a permission check (trackfit/tracking/server_auth.py).
authorization_function = trackfit.tracking.server_auth:authenticate_request
# Check each password hash once a minute per worker, not on every request.
auth_cache_ttl_seconds = 60
EOF
        chmod 600 "$DIR/basic_auth.ini"
        app=(--app-name basic-auth)
    fi
    mkdir -p "$DIR/artifacts"
    [ -f "$DIR/webhook-key" ] || (umask 077 && "$PYTHON" -c \
        "import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())" > "$DIR/webhook-key")
    chmod 600 "$DIR/webhook-key"
    export MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY=${MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY:-$(cat "$DIR/webhook-key")}
    if [ -n "${TRACKFIT_WEBHOOK_PRIVATE:-}" ]; then
        export MLFLOW_WEBHOOK_ALLOWED_SCHEMES=http,https MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true
        say "webhooks may post to http URLs and private addresses (TRACKFIT_WEBHOOK_PRIVATE=1)"
    fi
    local hosts="127.0.0.1:$PORT,localhost:$PORT" origins="http://127.0.0.1:$PORT"
    loopback "$HOST" || hosts="$hosts,$(client_host):$PORT"
    [ "$(client_host)" = 127.0.0.1 ] || origins="$origins,http://$(client_host):$PORT"
    hosts="$hosts${TRACKFIT_SERVER_ALLOWED_HOSTS:+,$TRACKFIT_SERVER_ALLOWED_HOSTS}"
    origins="$origins${TRACKFIT_SERVER_CORS_ORIGINS:+,$TRACKFIT_SERVER_CORS_ORIGINS}"
    # The database URI (with its password) goes in the environment, not on the command line.
    # No background job workers: trackfit runs no server-side (GenAI) jobs.
    # No usage telemetry from the server or its UI.
    # The login config only with logins on: without them MLflow still reads its own default
    # config on some requests (runs/search), and a missing file there is an HTTP 500.
    # (No comment line inside the command below: it would end the command there.)
    MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false} \
    MLFLOW_DISABLE_TELEMETRY=${MLFLOW_DISABLE_TELEMETRY:-true} \
    MLFLOW_BACKEND_STORE_URI=$(backend_uri mlflow) \
    MLFLOW_AUTH_CONFIG_PATH=${AUTH:+$DIR/basic_auth.ini} \
        setsid "$MLFLOW" server --host "$HOST" --port "$PORT" --workers "$WORKERS" \
        --artifacts-destination "$DIR/artifacts" "${app[@]}" \
        --allowed-hosts "$hosts" --cors-allowed-origins "$origins" --x-frame-options SAMEORIGIN \
        >"$DIR/mlflow.log" 2>&1 < /dev/null &
    echo $! > "$DIR/mlflow.pid"
    local tries=0
    until healthy; do
        tries=$((tries + 1))
        kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null || die "mlflow server exited, see $DIR/mlflow.log"
        [ $tries -lt 240 ] || die "mlflow server not healthy after 120 s, see $DIR/mlflow.log"
        sleep 0.5
    done
    say "MLflow tracking server at http://$(client_host):$PORT${AUTH:+ (basic auth)}"
}

# The last line of `start`: how to use the server, with the login when logins are on (the
# password's file, or the variable that set it; never the password itself).
use_line() {
    local uri="http://$(client_host):$PORT"
    if [ -z "$AUTH" ]; then
        say "use it: export MLFLOW_TRACKING_URI=$uri"
    elif [ -n "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" ]; then
        say "use it: export MLFLOW_TRACKING_URI=$uri MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD=\"\$MLFLOW_AUTH_ADMIN_PASSWORD\""
    else
        say "use it: export MLFLOW_TRACKING_URI=$uri MLFLOW_TRACKING_USERNAME=admin MLFLOW_TRACKING_PASSWORD=\$(cat $DIR/admin-password)"
    fi
}

mlflow_stop() {
    local pid
    pid=$(mlflow_pid || true)
    [ -n "$pid" ] || { rm -f "$DIR/mlflow.pid"; return; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$DIR/mlflow.pid"
}

case "${1:-}" in
    start) check_doors; install_postgresql; pg_init; pg_start; mlflow_start; use_line ;;
    stop) mlflow_stop; pg_stop; say "stopped" ;;
    status)
        pg_running && say "PostgreSQL running on $PG_HOST:$PG_PORT" || say "PostgreSQL stopped"
        if [ -n "$(mlflow_pid || true)" ] && healthy; then
            say "tracking server running at http://$(client_host):$PORT"
        else
            say "tracking server stopped"; exit 3
        fi ;;
    uri) echo "http://$(client_host):$PORT" ;;
    backend-uri) backend_uri mlflow ;;
    db-restart)
        pg pg_ctl restart -D "$PGDATA" -m fast -w -t 60 -l "$PGLOG" \
            -o "-c listen_addresses=$PG_HOST -p $PG_PORT -k $PGRUN" >/dev/null
        say "PostgreSQL restarted" ;;
    check) check_doors; say "would bind the tracking server to $HOST" ;;
    *) echo "usage: $0 start|stop|status|uri|backend-uri|db-restart|check" >&2; exit 2 ;;
esac
