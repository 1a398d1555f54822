# Two commands work on a fresh machine: `make demo` and `make test`.
# Each creates the virtual environment on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel; an unpinned torch would pull a multi-GB CUDA build. Override for GPUs.
TORCH ?= torch==2.13.0
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: setup demo test test-warp test-pythons test-all lint typecheck format dagster bench gpu-check clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e '.[dev,gpu]'
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

## test-warp: the warp tier (CI runs it after test): the warp backend on the CPU against
## the mujoco one, and a tiny teacher trained on it. Warp compiles its kernels into
## .pytest_cache/d/warp (tests/conftest.py): 3-5 minutes from a fresh clone, 45 s after
test-warp: setup
	@$(PY) -c "import mujoco_warp, warp" || { echo "make test-warp: the gpu extra is not installed (pip install -e '.[gpu]')" >&2; exit 1; }
	$(PY) -m pytest -m "warp and not slow"

## test-pythons: install and import on the newer Pythons requires-python admits (3.12:
## a real install, 3.13: resolution), where this machine has them (.ci/newer-pythons)
test-pythons:
	bash .ci/newer-pythons

## test-all: including tests marked slow and warp
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

## gpu-check: the one-shot device check (bench/gpu_check.sh; README, The GPU path). No setup:
## the device machine has no registry; prepare .gpu_carry first (bench/gpu_prepare.py)
gpu-check:
	bash bench/gpu_check.sh $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) .dagster_home .store .data
