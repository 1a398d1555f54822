# Two commands work on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel; an unpinned torch would pull a multi-GB CUDA build. Override for GPUs.
TORCH ?= torch==2.13.0
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test test-all lint typecheck format dagster bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

## demo: the pipeline's main job on the default data (the sample, else synthetic clips)
demo: setup $(DAGSTER_HOME)/dagster.yaml
	$(PY) -m pipeline.main

## test: the default test suite (what CI runs)
test: setup
	$(PY) -m pytest

## test-all: including tests marked slow
test-all: setup
	$(PY) -m pytest -m ""

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## dagster: the UI on http://127.0.0.1:3000, materialisations kept in .dagster_home
dagster: setup $(DAGSTER_HOME)/dagster.yaml
	$(VENV)/bin/dagster dev -m pipeline.definitions -h 127.0.0.1 -p 3000

## bench: the quick benchmarks (teacher_curve, student_curve, gpu take a budget; run them alone)
bench: setup
	$(PY) bench/ingest.py
	$(PY) bench/kinematics.py
	$(PY) bench/annotate.py
	$(PY) bench/env_step.py
	$(PY) bench/export.py

clean:
	rm -rf $(VENV) .dagster_home .store .data
