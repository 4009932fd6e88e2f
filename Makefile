# jamsostek-bot — the two commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help install run playground test test-fast lint format i18n i18n-check migrate migration bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "Python 3.11 or newer is required; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install the bot with its dev tools

run: $(STAMP) ## run the bot (long polling; webhook when WEBHOOK_URL is set; no token: the playground)
	$(PY) -m bot

playground: $(STAMP) ## try the bot in a browser on 127.0.0.1 without Telegram (PLAYGROUND_PORT, default 8080)
	$(PY) -m bot playground

test: $(STAMP) ## install everything and run every test (PostgreSQL too when TEST_DATABASE_URL is set)
	$(PY) -m pytest -q

test-fast: $(STAMP) ## skip the slow end-to-end tests
	$(PY) -m pytest -q -m "not slow and not browser"

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy bot handlers storage

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

i18n: $(STAMP) ## extract msgids and merge them into locales/*/LC_MESSAGES/messages.po
	@touch locales/.lock
	flock locales/.lock sh -c '\
	  $(VENV)/bin/pybabel extract -F pyproject.toml --no-location --sort-output \
	    --add-comments=Translators: -k t -k n:1,2 -k N_ -o locales/messages.pot bot handlers >/dev/null && \
	  $(VENV)/bin/pybabel update --no-fuzzy-matching --ignore-obsolete --no-wrap \
	    -i locales/messages.pot -d locales -D messages >/dev/null && \
	  $(PY) -m bot.i18n_check fill-en'
	@$(PY) -m bot.i18n_check || true

migrate: $(STAMP) ## apply database migrations to DATABASE_URL
	$(PY) -m bot migrate

migration: $(STAMP) ## autogenerate a migration: make migration m="what changed"
	$(PY) -m storage.make_migration "$(m)"

BENCH_VENV  := $(VENV)/bench-aiogram
BENCH_STAMP := $(BENCH_VENV)/.installed

# Baseline B (aiogram) gets its own environment: aiogram pins an older pydantic than the bot uses.
$(BENCH_STAMP): bench/requirements.txt | $(STAMP)
	$(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r bench/requirements.txt
	@touch $(BENCH_STAMP)

bench: $(STAMP) $(BENCH_STAMP) ## run the benchmarks in bench/, baselines in the same run (BENCH_ARGS=--quick)
	$(PY) -m bench $(BENCH_ARGS)

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache data/playground*
