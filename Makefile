# Two commands on a fresh machine: `make run` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
PORT ?= 8000
# The Python the locks are resolved for: the image's (Dockerfile) and CI's; tests/deploy/test_packaging.py
# keeps the three equal. LOCK_FLAGS=--upgrade (or --upgrade-package NAME) moves pins forward.
LOCK_PYTHON := 3.11
LOCK_FLAGS ?=
COMPILE = $(BIN)/uv pip compile --quiet --python-version $(LOCK_PYTHON) --python-platform linux --generate-hashes $(LOCK_FLAGS)

.PHONY: run test test-fast lint bench lock dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The locks carry hashes, and pip checks hashes for a whole command once one file has them: one pip
# call per lock. The project itself goes in last, editable and without dependencies (the locks have them).
$(VENV)/.run-deps: requirements.txt requirements-local.txt pyproject.toml | $(BIN)/python
	$(PIP) install -q --require-hashes -r requirements.txt
	$(PIP) install -q --require-hashes -r requirements-local.txt
	$(PIP) install -q --no-deps -e .
	touch $@

# requirements-dev.txt holds everything (the deploy and local pins too, identical): one call. It pins
# setuptools, so the editable install needs no download.
$(VENV)/.dev-deps: requirements-dev.txt requirements.txt requirements-local.txt pyproject.toml | $(BIN)/python
	$(PIP) install -q --require-hashes -r requirements-dev.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	touch $@ $(VENV)/.run-deps

## Serve on http://localhost:$(PORT): against Google with credentials in .env, else a local provider.
run: $(VENV)/.run-deps
	PORT=$(PORT) $(BIN)/python scripts/serve.py

## Every check: lint, then the whole test suite (browser, gunicorn, Redis included). The property suite
## runs apart on two processes: its thousands of in-process requests are CPU alone, and halve on two cores.
test: lint
	$(BIN)/python -m pytest -m "not properties"
	$(BIN)/python -m pytest -m properties -n 2

## The quick tests only (no servers, no browser), on two processes (pytest-xdist): seconds, for the edit-test loop.
# pytest keeps the test modules it rewrites in __pycache__ only where Python may write bytecode: on a
# machine that sets PYTHONDONTWRITEBYTECODE=1 every run would rewrite them all again (2-3 s a worker).
test test-fast: export PYTHONDONTWRITEBYTECODE =

test-fast: $(VENV)/.dev-deps
	$(BIN)/python -m pytest -m "not slow" -n 2

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile

## CPU per request and requests/s: the app against its ceilings, and A/B costs of sealing and the limiter; then a host
## app's signed-in page with the extension against Flask-Login's and a bare one (bench/host_run.py); writes bench/results/.
bench: $(VENV)/.dev-deps
	$(BIN)/python bench/run.py
	$(BIN)/python bench/host_run.py --profile 2000

## Re-resolve the three locks from pyproject.toml's ranges, pinned and hashed, for CPython $(LOCK_PYTHON) on
## Linux. Pins that still fit stay as they are; `make lock LOCK_FLAGS=--upgrade` takes the newest.
## The reference app and the tests use every extra (redis, metrics, sessions-page): the deploy and dev locks hold all three.
lock: $(VENV)/.dev-deps
	$(COMPILE) pyproject.toml --all-extras --group app -o requirements.txt
	$(COMPILE) --group local -c requirements.txt -o requirements-local.txt
	$(COMPILE) pyproject.toml --all-extras --group dev -c requirements.txt -c requirements-local.txt -o requirements-dev.txt

## The package for PyPI: sdist and wheel in dist/, then `twine check --strict` on both. Built with the dev
## lock's setuptools (--no-isolation: nothing downloaded, the backend pinned and hashed like the rest),
## from a clean tree (a stale egg-info's SOURCES.txt would add its files to the sdist).
dist: $(VENV)/.dev-deps
	rm -rf dist build flask_google_signin.egg-info
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

clean:
	rm -rf $(VENV) instance artifacts .pytest_cache .ruff_cache .mypy_cache .hypothesis dist build *.egg-info
