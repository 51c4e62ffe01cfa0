# The quickstart: `make lab` sets up and runs the whole lab; `make test` sets up and runs the tests
# (`make check`: the fast ones).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXPERIMENT ?= experiment-diabetes
export MLFLOW_EXPERIMENT_NAME ?= $(EXPERIMENT)

.PHONY: venv test-venv lab check test bench ui serve clean server server-stop spark spark-stop

venv: $(VENV)/.installed

# Every install goes through uv (pinned as in the test extra; tests/test_pins.py keeps them
# equal): on a fresh machine it installs the venv several times faster than pip. Compiled
# to bytecode as it installs, as pip does: otherwise the first imports of every command
# compile scikit-learn, MLflow and pandas themselves.
UV_PIN := uv==0.13.9
INSTALL := $(BIN)/python -m uv pip install --quiet --compile-bytecode --python $(BIN)/python

# trackfit and the pins of conda.yaml (pyproject.toml carries the same pins): what the lab
# needs, nothing more.
$(VENV)/.installed: conda.yaml pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(UV_PIN)
	$(INSTALL) -e .
	touch $@

# What the tests add: the test, tune and spark extras (Spark needs Java 17).
test-venv: $(VENV)/.tests
$(VENV)/.tests: $(VENV)/.installed
	$(INSTALL) -e '.[test,tune,spark]'
	touch $@

# `--env-manager local` runs MLproject's `python` from PATH: the venv's, as when activated.
lab: venv
	PATH="$(abspath $(BIN)):$$PATH" mlflow run . --env-manager local --experiment-name $(EXPERIMENT)

# The fast tier: every test that runs the command line in the test process, under two minutes
# here. It starts no trackfit or mlflow process, environment, server, Spark or browser. What
# still starts: what trackfit itself starts (the warm process predict's model check forks its
# probes from, once per test worker; joblib's workers for n_jobs > 1; git), scripts/server.sh's
# refusals to bind (bash, with a few lines of Python that import nothing heavy), `make -n
# server` and bash for the README's curl line.
check: test-venv
	$(BIN)/python -m pytest -m "not slow"

# Every test, the slow ones too, as CI runs them (.ci/run starts the server and the cluster).
test: test-venv
	$(BIN)/python -m pytest

# Speed figures into BENCHMARKS.md (bench/run.py --smoke: each once, small, quick).
# The bench extra adds the peers that share trackfit's environment (Optuna's MLflow tracking).
bench: test-venv
	$(INSTALL) -e '.[bench]'
	$(BIN)/python bench/run.py

# The MLflow UI on MLFLOW_TRACKING_URI (default sqlite:///mlflow.db); prints and opens the
# address of the experiment's training runs and of the latest compare run's report.html.
UI_PORT ?= 5000
ui: venv
	$(BIN)/python -m trackfit.cli.ui --port $(UI_PORT) $(UI_ARGS)

# The champion over HTTP on loopback (trackfit serve: mlflow models serve --env-manager local,
# with the venv's bin first on PATH for the uvicorn MLflow starts).
SERVE_PORT ?= 5001
serve: venv
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m trackfit serve --port $(SERVE_PORT)

# The team tracking server (scripts/server.sh): PostgreSQL and `mlflow server` on loopback.
# What it adds to the lab's venv: the server extra alone (the driver and the login forms).
$(VENV)/.server: $(VENV)/.installed pyproject.toml
	$(INSTALL) -e '.[server]'
	touch $@

server: $(VENV)/.server
	MLFLOW=$(BIN)/mlflow scripts/server.sh start

server-stop:
	scripts/server.sh stop

# A Spark standalone master and worker on loopback (scripts/spark.sh); needs Java 17.
# SPARK_PYTHON=pins: the cluster's Python holds trackfit's pins but not trackfit (.ci/run's).
SPARK_PYTHON ?= $(BIN)/python
spark: test-venv
	PYTHON=$(SPARK_PYTHON) scripts/spark.sh start

spark-stop:
	scripts/spark.sh stop

clean:
	rm -rf $(VENV) mlflow.db mlflow.db.lock mlruns mlartifacts predictions.parquet predictions
