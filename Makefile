# edgewatch: the front door. `make run` starts the agent, `make test` checks everything.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run install test test-deps debian-peers lint format bench docs clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installed marker: reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/edgewatch run $(ARGS)

# Real peers the tests run against; installed with apt-get when root (CI is).
DEB_PEERS := prometheus prometheus-alertmanager chromium systemd victoria-metrics

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@

debian-peers:
	@missing=""; for p in $(DEB_PEERS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get install -y -q --no-install-recommends $$missing || \
	     (apt-get update -q && apt-get install -y -q --no-install-recommends $$missing)) >/dev/null; \
	  else echo "note: Debian packages missing:$$missing (tests needing them skip, or fail under CI=true)"; fi; \
	fi

test-deps: $(VENV)/.test-installed debian-peers

lint: test-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

format: test-deps
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

# wrk (Debian) loads the API from C, leaving the agent the CPU; without it
# bench/query.py falls back to a Python client and says so.
bench: test-deps
	@$(MAKE) --no-print-directory debian-peers DEB_PEERS=wrk
	$(BIN)/python bench/store.py
	$(BIN)/python bench/query.py
	$(BIN)/python bench/health.py
	$(BIN)/python bench/agent_overhead.py
	$(BIN)/python bench/alerting.py
	$(BIN)/python bench/remote_write.py
	$(BIN)/python bench/dashboard.py

# The dashboard's pages (dark/light, desktop/phone) from the real agent, for the docs.
screenshots: test-deps
	$(BIN)/python bench/screenshots.py --out docs/screenshots

docs: install
	$(BIN)/python docs/gen_cli.py > docs/cli.md

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
