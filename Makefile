# All set-up for a fresh machine. `make demo` is the main job; `make test` runs the suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.13.0

.PHONY: install test test-fast demo lint bench clean browser-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# torch first: the pin takes the CPU build; installing it via the package's range would pull CUDA.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e '.[dev,qdrant,ray]'
	touch $(STAMP)

install: $(STAMP)

# The main job, offline: world -> train (cached after the first run) -> index -> queries -> report.
demo: install
	$(BIN)/jointspace demo --workdir runs/demo

test: install browser-deps
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow and not browser"

lint: install
	$(BIN)/ruff check src tests benchmarks

# Speed targets: each script prints ratios against a reference run in the same process.
bench: install
	for b in ingest search threads decode train serve_load; do $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info runs

browser-deps:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)
