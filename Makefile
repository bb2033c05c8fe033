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

# the editor on http://127.0.0.1:1880 with examples/line-monitor.json deployed, in a fresh
# .demo-data folder; runs until Ctrl-C, or DEMO_SECONDS=N stops it after N seconds
DEMO_SECONDS ?=
demo: $(STAMP) editor
	@rm -rf .demo-data && mkdir -p .demo-data && cp examples/line-monitor.json .demo-data/flows.json
	@echo "== Plantwire demo: open http://127.0.0.1:1880 (the editor, with examples/line-monitor.json:"
	@echo "== readings, a Python function, an alarm, MQTT through an embedded broker on 127.0.0.1:18883)."
	@echo "== $(if $(DEMO_SECONDS),Stops after $(DEMO_SECONDS) s,Ctrl-C stops it); state in .demo-data/. =="
	@$(if $(DEMO_SECONDS),timeout -s INT $(DEMO_SECONDS)) $(BIN)/plantwire serve --host 127.0.0.1 \
		--port 1880 --data .demo-data --editor frontend/dist; rc=$$?; \
		if [ $$rc = 124 ] || [ $$rc = 130 ]; then exit 0; else exit $$rc; fi

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
