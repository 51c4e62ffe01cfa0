# The quickstart: `make lab` sets up and runs the whole lab; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXPERIMENT ?= experiment-diabetes
export MLFLOW_EXPERIMENT_NAME ?= $(EXPERIMENT)

.PHONY: venv lab test bench ui clean server server-stop spark spark-stop

venv: $(VENV)/.installed

# trackfit and the pins of conda.yaml (pyproject.toml carries the same pins), the test
# tools and pyspark (the spark extra: the Spark tests need it, and Java 17).
$(VENV)/.installed: conda.yaml pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	touch $@

# `--env-manager local` runs MLproject's `python` from PATH: the venv's, as when activated.
lab: venv
	PATH="$(abspath $(BIN)):$$PATH" mlflow run . --env-manager local --experiment-name $(EXPERIMENT)

test: venv
	$(BIN)/python -m pytest

# Speed figures into BENCHMARKS.md (bench/run.py --smoke: each once, small, quick).
bench: venv
	$(BIN)/python bench/run.py

ui: venv
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db

# The team tracking server (scripts/server.sh): PostgreSQL and `mlflow server` on loopback.
$(VENV)/.server: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,spark,server]'
	touch $@

server: $(VENV)/.server
	MLFLOW=$(BIN)/mlflow scripts/server.sh start

server-stop:
	scripts/server.sh stop

# A Spark standalone master and worker on loopback (scripts/spark.sh); needs Java 17.
spark: venv
	PYTHON=$(BIN)/python scripts/spark.sh start

spark-stop:
	scripts/spark.sh stop

clean:
	rm -rf $(VENV) mlflow.db mlflow.db.lock mlruns mlartifacts
