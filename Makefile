# embeval — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install run test test-fast bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch first: a bare torch requirement would pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed  ## create .venv and install embeval with its test tools

run: install  ## the main job on sample_data/ (default model, offline)
	$(VENV)/bin/embeval geometry sample_data/scifact_small/corpus.npy
	$(VENV)/bin/embeval retrieval sample_data/scifact_small --model default

test: lint  ## lint, then the whole test suite (reads ../shared/data when present)
	$(PY) -m pytest -q

test-fast: install  ## tests without the slow real-data checks (under 2 minutes on 2 cores)
	$(PY) -m pytest -q -m "not slow"

bench: install  ## benchmarks: ratios against reference implementations
	$(PY) bench/run.py

lint: install  ## ruff check, ruff format --check and mypy on embeval/ (config in pyproject.toml)
	$(PY) -m ruff check embeval
	$(PY) -m ruff format --check embeval
	$(PY) -m mypy embeval

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
