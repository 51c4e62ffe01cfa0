#!/usr/bin/env bash
# A Spark standalone cluster on loopback: one master and one worker, started with pyspark's own
# bin/spark-class, every address bound to 127.0.0.1. Needs Java 17 and trackfit's spark extra.
#
#   scripts/spark.sh start        start the master and the worker; wait until the worker joined
#   scripts/spark.sh stop         stop both
#   scripts/spark.sh status       what is running, and the master URL
#   scripts/spark.sh master-url   spark://127.0.0.1:<port>, for -P spark=...
#   scripts/spark.sh pins-python  build once, then print, a Python with trackfit's pins and
#                                 its spark and tune extras but not trackfit: what a cluster
#                                 gets from `mlflow run` with uv or conda
#
# Settings (environment): TRACKFIT_SPARK_PORT (7077), TRACKFIT_SPARK_UI_PORT (8090, the
# master's web UI), TRACKFIT_SPARK_CORES (2) and TRACKFIT_SPARK_MEMORY (2g) the worker offers,
# TRACKFIT_SPARK_DIR (.spark: logs, pids, the worker's scratch, the pins Python),
# PYTHON (default: the venv's; `pins`: the pins Python above).
# A driver using the cluster should run with SPARK_LOCAL_IP=127.0.0.1 too.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=$(mkdir -p "${TRACKFIT_SPARK_DIR:-.spark}" && cd "${TRACKFIT_SPARK_DIR:-.spark}" && pwd)
HOST=127.0.0.1
PORT=${TRACKFIT_SPARK_PORT:-7077}
UI_PORT=${TRACKFIT_SPARK_UI_PORT:-8090}
CORES=${TRACKFIT_SPARK_CORES:-2}
MEMORY=${TRACKFIT_SPARK_MEMORY:-2g}
PYTHON=${PYTHON:-.venv/bin/python}
URL=spark://$HOST:$PORT

# Spark binds its RPC, block manager and web UIs to SPARK_LOCAL_IP (else the machine's
# interface, and 0.0.0.0 for web UIs): loopback only.
export SPARK_LOCAL_IP=$HOST SPARK_PUBLIC_DNS=$HOST
# Executors run Python with the interpreter the driver names (trackfit: its own).

say() { echo "spark: $*"; }
die() { echo "spark: error: $*" >&2; exit 1; }

# The venv in $DIR/pins, built with uv (the test extra's) from pyproject.toml's pins, which
# tests/test_pins.py keeps equal to conda.yaml's, and the spark and tune extras; from uv's
# cache when it holds them all, else from the package index. Prints its python.
pins_python() {
    local venv=$DIR/pins builder=.venv/bin/python
    [ -x "$builder" ] || builder=python3
    if [ ! -f "$venv/complete" ]; then
        rm -rf "$venv"
        "$builder" -m uv venv --quiet --python "$builder" "$venv" ||
            die "cannot make a venv with uv; make test-venv installs it"
        local pins
        pins=$("$builder" -c 'import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
print(" ".join(project["dependencies"] + extras["spark"] + extras["tune"]))')
        # shellcheck disable=SC2086  # one word per pin
        "$builder" -m uv pip install --quiet --compile-bytecode --offline --python "$venv/bin/python" $pins 2>/dev/null ||
            "$builder" -m uv pip install --quiet --compile-bytecode --python "$venv/bin/python" $pins ||
            die "cannot install trackfit's pins into $venv"
        touch "$venv/complete"
    fi
    echo "$venv/bin/python"
}

spark_home() {
    "$PYTHON" -c "import os, pyspark; print(os.path.dirname(pyspark.__file__))" 2>/dev/null ||
        die "pyspark is missing; pip install -e '.[spark]'"
}

pid_of() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null && cat "$DIR/$1.pid"; }

# Start one daemon in its own process group; wait for ``ready`` in its log.
daemon() {
    local name=$1 ready=$2; shift 2
    [ -n "$(pid_of "$name" || true)" ] && return
    : > "$DIR/$name.log"
    setsid "$(spark_home)/bin/spark-class" "$@" >"$DIR/$name.log" 2>&1 < /dev/null &
    echo $! > "$DIR/$name.pid"
    local tries=0
    until grep -q "$ready" "$DIR/$name.log"; do
        tries=$((tries + 1))
        kill -0 "$(cat "$DIR/$name.pid")" 2>/dev/null || die "the $name exited, see $DIR/$name.log"
        [ $tries -lt 240 ] || die "the $name is not ready after 120 s, see $DIR/$name.log"
        sleep 0.5
    done
}

start() {
    if [ "$PYTHON" = pins ]; then PYTHON=$(pins_python); fi
    [ -x "$PYTHON" ] || PYTHON=python3
    command -v java >/dev/null || [ -n "${JAVA_HOME:-}" ] ||
        die "Java is missing; install Java 17 (Debian: apt-get install openjdk-17-jre-headless)"
    mkdir -p "$DIR/work" "$DIR/tmp"
    SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false" SPARK_LOG_DIR=$DIR daemon master "I have been elected leader" \
        org.apache.spark.deploy.master.Master --host "$HOST" --port "$PORT" --webui-port "$UI_PORT"
    SPARK_LOCAL_DIRS=$DIR/tmp daemon worker "Successfully registered with master" \
        org.apache.spark.deploy.worker.Worker --host "$HOST" --webui-port 0 \
        --cores "$CORES" --memory "$MEMORY" --work-dir "$DIR/work" "$URL"
    say "master at $URL (web UI http://$HOST:$UI_PORT), one worker: $CORES cores, $MEMORY"
    say "use it: SPARK_LOCAL_IP=$HOST mlflow run . -e predict ... -P spark=$URL --env-manager local"
}

stop_one() {
    local pid
    pid=$(pid_of "$1" || true)
    [ -n "$pid" ] || { rm -f "$DIR/$1.pid"; return; }
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$DIR/$1.pid"
}

case "${1:-}" in
    start) start ;;
    stop) stop_one worker; stop_one master; say "stopped" ;;
    status)
        running=0
        for name in master worker; do
            if [ -n "$(pid_of $name || true)" ]; then say "$name running"; else say "$name stopped"; running=3; fi
        done
        [ $running = 0 ] && say "master URL $URL"
        exit $running ;;
    master-url) echo "$URL" ;;
    pins-python) pins_python ;;
    *) echo "usage: $0 start|stop|status|master-url|pins-python" >&2; exit 2 ;;
esac
