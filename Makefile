# Nightdesk. `make run` runs the pipeline end to end; `make test` runs every test (what CI runs).
# Each target installs what it needs into .venv/ on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nightdesk-installed
export PYTHONPATH := $(CURDIR)

.PHONY: install run test test-fast ui lint lock services bench

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

install: $(STAMP)

## The pipeline through Airflow over the demo windows 2022-01-27..2022-02-02 (bundled replica).
## Live site: make run NIGHTDESK_SOURCES=sources/live.toml DEMO_FROM=YYYY-MM-DD DEMO_TO=YYYY-MM-DD
run: $(STAMP)
	bin/demo

## Every test tier (unit, golden, DAG, end-to-end crawls, PostgreSQL); starts PostgreSQL if down.
test: $(STAMP) services
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -ra

## Everyday loop: skips the Airflow runs and the PostgreSQL tests.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not postgres"

## Airflow UI with the nightly schedule live (scheduler, API server, DAG processor).
ui: $(STAMP)
	bin/ui

lint: $(STAMP)
	$(VENV)/bin/ruff check .

services:
	@bin/services

## Re-resolve and pin the dependency set (needs the network to PyPI).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q -e '.[dev]'
	( echo '# Resolved, pinned set (python 3.11). Regenerate with `make lock`; installs with `make install`.'; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v '^nightdesk' ) > requirements.lock
	rm -rf .venv-lock
