# Two commands on a fresh machine: `make run` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-deps: requirements.txt requirements-local.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements.txt -r requirements-local.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-local.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

## Serve on http://localhost:$(PORT): against Google with credentials in .env, else a local provider.
run: $(VENV)/.run-deps
	PORT=$(PORT) $(BIN)/python scripts/serve.py

## Every check: lint, then the whole test suite (browser, gunicorn, Redis included).
test: lint
	$(BIN)/python -m pytest

## The quick tests only (no servers, no browser): seconds, for the edit-test loop.
test-fast: $(VENV)/.dev-deps
	$(BIN)/python -m pytest -m "not slow"

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/hadolint Dockerfile

## Requests/s against framework and store baselines; writes bench/results/.
bench: $(VENV)/.dev-deps
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance artifacts .pytest_cache .ruff_cache
