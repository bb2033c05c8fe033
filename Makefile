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
	$(BIN)/python -m plantwire.catalog docs/nodes  # also src/plantwire/nodes/index.py

# side by side with Node-RED 5 (peers installed into bench/.peers/); BENCH_ROUNDS >= 3
BENCH_ROUNDS ?= 5
bench: $(STAMP)
	$(BIN)/python bench/peers.py
	$(BIN)/python bench/compare.py --rounds $(BENCH_ROUNDS) --update-doc

clean:
	rm -rf $(VENV) .demo-data .coverage .coverage.json .pytest_cache .mypy_cache .ruff_cache

# the browser editor (frontend/): npm install + vite build into frontend/dist/ (served by
# `plantwire serve`); its end-to-end tests drive Debian's chromium (installed when missing)
.PHONY: editor browser
pytest: editor browser
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
editor: frontend/dist/index.html
frontend/dist/index.html: frontend/package.json frontend/index.html frontend/vite.config.ts $(wildcard frontend/src/*)
	cd frontend && npm install --no-audit --no-fund && npm run build
