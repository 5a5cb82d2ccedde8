# Two commands do all set-up on a fresh machine with python3:
#   make demo   trains the embedded default study (no download) and writes runs/demo/
#   make test   runs the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast lint bench clean

$(BIN)/actlab: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/actlab

demo: $(BIN)/actlab
	$(BIN)/actlab demo --out runs/demo

# Tests share compiled programs through JAX's persistent compilation cache (in the ignored
# build/ folder): notebook kernels, subprocesses and both workers compile many of the same.
# Tests sharing an expensive fixture carry one xdist_group, so loadgroup builds it once.
# -rs lists every skip with its reason; --durations shows where the time goes.
# Compiling is most of the suite's time and the tests run tiny workloads, so XLA's CPU backend
# generates machine code at optimisation level 0 (TEST_XLA_FLAGS): the same programs, compiled
# with less effort. Every comparison in the suite is between programs compiled alike. Measured
# on a 2-core machine like CI's: pytest 863 s at the default level, 592 s at level 0, all passing.
JAX_CACHE ?= $(CURDIR)/build/jax-cache
TEST_XLA_FLAGS ?= --xla_backend_optimization_level=0
PYTEST := XLA_FLAGS="$(TEST_XLA_FLAGS) $$XLA_FLAGS" \
	JAX_COMPILATION_CACHE_DIR=$(JAX_CACHE) JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 \
	$(BIN)/pytest -q -n auto --dist loadgroup -rs
test: $(BIN)/actlab
	$(BIN)/ruff format --check . && $(BIN)/ruff check .
	$(PYTEST) --durations=15; \
	  rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

# The developer's inner loop: every test but those marked slow (end-to-end runs of a minute
# or more: notebooks, experiment scripts, two-process runs, the Hypothesis invariance draws).
# CI runs `make test`, all of them.
test-fast: $(BIN)/actlab
	$(PYTEST) -m "not slow"

lint: $(BIN)/actlab
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(BIN)/actlab
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs
