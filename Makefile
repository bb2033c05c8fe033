# Plantwire: `make demo` shows it working, `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest conformance docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@echo "== Plantwire demo: examples/line-monitor.json: readings, a Python function, an alarm, and MQTT"
	@echo "== through an embedded broker on 127.0.0.1:18883 (no broker to install). Ends after 8 s. =="
	$(BIN)/plantwire run examples/line-monitor.json --data .demo-data --for-seconds 8

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/pytest -q --cov=plantwire --cov-report=term:skip-covered --cov-report=json:.coverage.json
	$(BIN)/python tools/check_coverage.py .coverage.json src/plantwire/runtime 90

conformance: $(STAMP)
	$(BIN)/plantwire test -q ../shared/conformance/cases

test: lint typecheck pytest

docs: $(STAMP)
	$(BIN)/python -m plantwire.catalog docs/nodes

bench: $(STAMP)
	$(BIN)/python bench/hops.py

clean:
	rm -rf $(VENV) .demo-data .coverage .coverage.json .pytest_cache .mypy_cache .ruff_cache
