# callsift developer commands. `make help` lists them.
# Needs only Python 3.11+ and make: the first target that needs the environment creates .venv.

PYTHON ?= python3
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-callsift

.DEFAULT_GOAL := help
.PHONY: help install lock run test chromium lint check format typecheck bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The lock (requirements.lock) pins what every install gets; `make` rewrites it first when
# pyproject.toml's dependency lists changed since it was made.
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "callsift needs Python 3.11 or newer (found " + sys.version.split()[0] + ")")'
	@$(PYTHON) tools/lock.py check 2>/dev/null || $(MAKE) --no-print-directory lock
	@test -x $(BIN)/python || { echo "make: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "make: installing callsift and its dependencies into $(VENV) (the first time takes about a minute)"
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --progress-bar off -c requirements.lock -e '.[dev]' \
		| awk '/^(Collecting|Processing) / { n++; printf "\r  %d packages fetched", n; fflush() } \
		       /^Installing collected packages/ { printf "\n  installing...\n"; fflush() } \
		       /^Successfully installed/ { printf "  %d packages installed\n", NF - 2 }'
	@touch $(STAMP)

lock: ## rewrite requirements.lock from pyproject.toml (a fresh resolve in a throwaway venv)
	$(PYTHON) tools/lock.py write

install: $(STAMP) ## create .venv and install callsift with its dev extras

run: $(STAMP) ## run the service on http://127.0.0.1:8000 (embedded SQLite unless CALLSIFT_DATABASE_URL is set)
	$(BIN)/callsift run

test: $(STAMP) chromium ## run the test suite (SQLite and PostgreSQL; see README)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM_NAMES := chromium chromium-browser google-chrome

chromium: ## make sure headless Chromium is there for the dashboard test (installs it with apt-get)
	@found="$$CALLSIFT_TEST_CHROMIUM"; \
	for name in $(CHROMIUM_NAMES); do [ -n "$$found" ] || found=$$(command -v $$name || true); done; \
	if [ -n "$$found" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make: the dashboard test needs Chromium: install it, or set CALLSIFT_TEST_CHROMIUM to its binary" >&2; \
		exit 1; \
	fi; \
	echo "make: installing chromium for the dashboard test (apt-get)"; \
	$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

lint: $(STAMP) ## ruff (lint and format check) and mypy strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint ## the edit-test loop, under a minute: lint, types, and the tests that need no database or server
	$(BIN)/python -m pytest -q -x tests/classifiers tests/service/test_readme.py tests/api/test_stats.py::TestPureParts

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP) ## run the benchmarks (~20 min, needs PostgreSQL) and write bench/results/latest.md
	@command -v wrk >/dev/null 2>&1 || $(SUDO) apt-get install -y wrk
	@command -v cc >/dev/null 2>&1 || $(SUDO) apt-get install -y gcc libc6-dev
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
