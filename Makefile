# Northstar: `make run` serves the app with demo data; `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_WORKERS ?= 2

.PHONY: run test lint check-migrations unit browser bench system-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Debian's chromium for the browser tests, Prometheus for the connector tests.
system-deps:
	@command -v chromium >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || { \
	  echo "Installing chromium and prometheus from Debian's packages..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium prometheus >/dev/null; }

run: $(STAMP)
	$(BIN)/northstar migrate --no-input
	SITE_URL=http://$(HOST):$(PORT) $(BIN)/northstar demo --size S --if-empty
	$(BIN)/northstar serve --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check northstar tests bench

check-migrations: $(STAMP)
	$(BIN)/northstar makemigrations --check --dry-run

test: $(STAMP) system-deps lint check-migrations
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/import_people.py

clean:
	rm -rf $(VENV) var .pytest_cache
