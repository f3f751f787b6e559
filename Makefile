# Everything a fresh machine needs comes from here: `make demo` and `make test` set up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint typecheck imports docs browser wrk unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/sidewalk demo

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# The contracts' tables in docs/events.md are written from their classes.
docs: $(STAMP)
	$(BIN)/python -m sidewalk.kernel.contracts.doc docs/events.md

# The browser tests drive Debian's Chromium (Playwright is told where it is; it downloads none);
# the load benchmark's short form in the suite drives wrk.
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)

wrk:
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

# Each test file runs whole on one worker (its module fixtures are built once), the slow ones
# first (tests/conftest.py orders them), so that no long test is left running alone at the end.
test: lint typecheck imports browser wrk
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

bench: $(STAMP) wrk
	$(BIN)/python bench/machine.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/telemetry.py
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/plan.py
	$(BIN)/python bench/warehouse.py
	$(BIN)/python bench/load.py
	$(BIN)/python bench/crash.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
