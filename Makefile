# Nightdesk. `make run` runs the pipeline end to end; `make test` runs every test (what CI runs).
# Each target installs what it needs into .venv/ on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nightdesk-installed
EXTRAS_STAMP := $(VENV)/.nightdesk-extras-installed
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PYTHONPATH := $(CURDIR)
# The demo replica (replica/, never shipped) is reached through this Scrapy download handler;
# the package names no replica, the checkout does (bin/airflow sets the same default).
export NIGHTDESK_REPLICA_HANDLER ?= replica.handler.ReplicaDownloadHandler

.PHONY: install run test test-fast test-production ui lint lock services browser bench

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

install: $(STAMP)

# What the production and browser tests need beyond the lock: the Celery provider and Playwright's
# client (the `celery` and `browser` extras). A no-op once requirements.lock pins them too.
$(EXTRAS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q --disable-pip-version-check -e '.[celery,browser]'
	@touch $@

## Debian's Chromium for the browser test (CI machines start without it; needs root or sudo).
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium (apt-get)"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -x $(CHROMIUM) || { echo "no Chromium at $(CHROMIUM)"; exit 1; }

## The pipeline through Airflow over the demo windows 2022-01-27..2022-02-02 (bundled replica);
## ends with the summary table and an HTML report under data/reports/.
## Live site: make run NIGHTDESK_SOURCES=sources/live.toml DEMO_FROM=YYYY-MM-DD DEMO_TO=YYYY-MM-DD
run: $(STAMP)
	bin/demo

## Every test tier (unit, golden, DAG, end-to-end crawls, PostgreSQL, Celery, browser); starts
## PostgreSQL and Redis if down, installs Chromium if missing; `make lint` first.
test: $(STAMP) $(EXTRAS_STAMP) services browser lint
	$(PY) -m pytest -q -ra --durations=10

## Everyday loop: skips the Airflow runs and the PostgreSQL tests.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not postgres"

## Airflow UI with the nightly schedule live (API server, scheduler, DAG processor, triggerer):
## prints the URL and the login once, logs to data/logs/ui/, Ctrl-C stops everything it started.
## Another port: make ui NIGHTDESK_UI_PORT=8081
ui: $(STAMP)
	bin/ui

## Production shapes only: Celery and LocalExecutor on PostgreSQL, login, secrets, deploy/, browser.
test-production: $(STAMP) $(EXTRAS_STAMP) services browser
	$(PY) -m pytest -q -ra tests/test_production.py tests/test_browser.py

## ruff, then the import contracts (pyproject.toml [tool.importlinter]): layers, no replica in
## production code, no import cycle; either failing fails the target.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

services:
	@bin/services

## Re-resolve and pin the dependency set (needs the network to PyPI).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q -e '.[dev,celery,browser]'
	( echo '# Resolved, pinned set (python 3.11). Regenerate with `make lock`; installs with `make install`.'; \
	  .venv-lock/bin/pip freeze --exclude-editable | grep -v '^nightdesk' ) > requirements.lock
	rm -rf .venv-lock

## ETL benchmark on N synthetic raw articles (default N=100000): prints one JSON line with wall_s,
## rows_per_s, peak_rss_mb, floor_s, naive_s, ratio_to_floor. See bench/README.md.
.PHONY: bench-etl
bench-etl: $(STAMP)
	$(PY) -m bench.etl_bench --n $(or $(N),100000) $(BENCH_ARGS)
