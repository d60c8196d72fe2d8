# Two commands matter on a fresh machine: `make demo` and `make test`.
# Each creates .venv when needed: `make demo` installs the package alone (what the demo
# runs on), `make test` the package with its dev extras (linters, mypy, the test tools).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
DEMO_PORT ?= 8000

.PHONY: install lint typecheck test test-sqlite test-postgres demo emulator bench clean

$(BIN)/.created:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

# The package and its runtime dependencies only: what `miroconnect demo` needs.
$(BIN)/.installed-app: pyproject.toml $(BIN)/.created
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Everything `make test` needs: the package and the dev extras.
$(BIN)/.installed: pyproject.toml $(BIN)/.created
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(BIN)/.installed-app

install: $(BIN)/.installed

lint: install
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples

typecheck: install
	$(BIN)/mypy

test-sqlite: install
	$(BIN)/pytest

# The database tests again, on PostgreSQL, when one answers on 127.0.0.1:5432.
test-postgres: install
	@if $(BIN)/python -c "import socket; socket.create_connection(('127.0.0.1', 5432), 2).close()" 2>/dev/null; then \
		$(BIN)/pytest -m db --database-url '$(PG_URL)'; \
	else \
		echo "PostgreSQL does not answer on 127.0.0.1:5432: the PostgreSQL run is skipped."; \
	fi

test: lint typecheck test-sqlite test-postgres

demo: $(BIN)/.installed-app
	$(BIN)/miroconnect demo --port $(DEMO_PORT) $(if $(DEMO_EMULATOR_PORT),--emulator-port $(DEMO_EMULATOR_PORT))

emulator: $(BIN)/.installed-app
	$(BIN)/miroconnect emulator --port 8765

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
