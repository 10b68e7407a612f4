# Two commands do everything on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Under CI the PostgreSQL pass is required; elsewhere it runs when PostgreSQL answers.
PYTEST_WORKERS ?= 2

.PHONY: install demo test test-sqlite test-postgres check format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/forcebridge demo

test: install test-sqlite test-postgres

test-sqlite: install
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

# The same suite (minus the emulators, which keep their own storage) on PostgreSQL + RedisHuey.
test-postgres: install
	@if [ "$$CI" = "true" ] || { pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping; } >/dev/null 2>&1; then \
		FORCEBRIDGE_TEST_DATABASE=postgres FORCEBRIDGE_TEST_QUEUE=redis \
			$(BIN)/pytest -n $(PYTEST_WORKERS) -q --ignore=tests/sandbox; \
	else \
		echo "PostgreSQL or Redis not reachable on 127.0.0.1: skipping the PostgreSQL + Redis pass"; \
	fi

check: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install
	$(BIN)/python bench/sandbox_throughput.py
	$(BIN)/python bench/association_create.py

clean:
	rm -rf $(VENV) .forcebridge .sandbox .pytest_cache .mypy_cache .ruff_cache
