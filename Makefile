# Two commands do all set-up on a fresh machine with python3:
#   make demo   trains the embedded default study (no download) and writes runs/demo/
#   make test   runs the test suite
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/actlab: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/actlab

demo: $(BIN)/actlab
	$(BIN)/actlab demo --out runs/demo

test: $(BIN)/actlab
	$(BIN)/ruff format --check . && $(BIN)/ruff check .
	$(BIN)/pytest -q -n auto; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(BIN)/actlab
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: $(BIN)/actlab
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs
