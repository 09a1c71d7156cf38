# Storefront BFF: `make run` serves the demo, `make test` runs every check. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_PRODUCTS ?= 1000

.PHONY: run install install-dev playground test lint check-python clean bench

run: install ## Install, migrate, seed the demo catalog (once) and serve GraphiQL at http://127.0.0.1:8000/graphql
	$(BIN)/storefront migrate
	$(BIN)/storefront seed --products $(DEMO_PRODUCTS) --seed 1 --if-empty
	$(BIN)/storefront serve --host $(HOST) --port $(PORT)

test: install-dev ## Install everything and run lint, the schema check and the test suite (SQLite and PostgreSQL)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app schema resolvers
	$(BIN)/storefront export-schema --check
	$(BIN)/pytest

install: $(VENV)/.runtime playground

install-dev: $(VENV)/.dev playground tools/http-audit/node_modules/.installed

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; set PYTHON=python3.x")'

$(VENV)/.runtime: requirements.lock pyproject.toml | check-python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml | check-python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(VENV)/.runtime $@

playground: app/static/graphiql/manifest.json

app/static/graphiql/manifest.json: playground/package-lock.json playground/build.mjs playground/bootstrap.js
	cd playground && npm ci --no-audit --no-fund --loglevel=error && node build.mjs

tools/http-audit/node_modules/.installed: tools/http-audit/package-lock.json
	cd tools/http-audit && npm ci --no-audit --no-fund --loglevel=error
	touch $@

bench: $(VENV)/.bench ## Run the benchmark (see bench/README.md); needs PostgreSQL at 127.0.0.1:5432 and wrk (apt-get install wrk)
	$(BIN)/python -m bench

$(VENV)/.bench: requirements-bench.lock pyproject.toml | check-python
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-bench.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(VENV)/.runtime $(VENV)/.dev $@

clean:
	rm -rf $(VENV) var playground/node_modules tools/http-audit/node_modules app/static/graphiql
