# edgewatch: the front door. `make run` starts the agent, `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run install test test-deps lint format bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installed marker: reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/edgewatch run $(ARGS)

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@

test-deps: $(VENV)/.test-installed

lint: test-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

format: test-deps
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install
	$(BIN)/python bench/store.py
	$(BIN)/python bench/agent_overhead.py

docs: install
	$(BIN)/python docs/gen_cli.py > docs/cli.md

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
