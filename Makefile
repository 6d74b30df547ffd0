# embeval — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install install-test run test test-fast docs bench lint clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.venv-created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	touch $@

# What the main job needs: the core plus the `encode` extra (a model for texts). No test tools,
# no data-source packages, no Dask.
$(VENV)/.installed: pyproject.toml $(VENV)/.venv-created
	# The CPU build of torch first: a bare torch requirement would pull a multi-GB CUDA build.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[encode]'
	touch $@

# The test tools and every extra the tests exercise (sources, dask, mcp, docs, oracles).
$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) install -e '.[test]'
	# rbo (a test oracle) declares numpy<2; without --no-deps pip would downgrade numpy for everything.
	$(PIP) install --no-deps 'rbo>=0.1'
	# moto[server]: the loopback S3 API tests/distributed/test_object_storage.py starts. Installed apart,
	# with botocore held to what s3fs's aiobotocore accepts: inside the extra, pip backtracked for minutes.
	$(PIP) install 'moto[server]>=5' "$$($(PY) -c 'import importlib.metadata as m; print(next(r.split(";")[0].replace(" ", "") for r in m.requires("aiobotocore") if r.startswith("botocore")))')"
	touch $@

install: $(VENV)/.installed  ## create .venv and install embeval with the encode extra

install-test: $(VENV)/.installed-test  ## install the test extras too

run: install  ## the main job on sample_data/ (default model, offline)
	$(VENV)/bin/embeval geometry sample_data/scifact_small/corpus.npy
	$(VENV)/bin/embeval retrieval sample_data/scifact_small --model default

test: lint  ## lint, then the whole test suite (reads ../shared/data when present; docs examples included)
	$(PY) -m pytest -q

test-fast: install-test  ## tests without the slow real-data checks, on both cores (pytest-xdist)
	$(PY) -m pytest -q -m "not slow" -n 2

docs: install-test  ## build the docs site (docs/ -> site/), failing on any warning
	$(PY) -m mkdocs build --strict

bench: install-test  ## benchmarks: ratios against reference implementations
	$(PY) bench/run.py

lint: install-test  ## ruff check, ruff format --check and mypy on embeval/ (config in pyproject.toml)
	$(PY) -m ruff check embeval
	$(PY) -m ruff format --check embeval
	$(PY) -m mypy embeval

clean:  ## remove the virtual environment, caches and the built site
	rm -rf $(VENV) .pytest_cache .hypothesis build site *.egg-info
