# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-fast bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned in pyproject.toml to the CPU build that pip finds on this machine.
# The demo needs only the core package; the tests need every extra (LLM lab, service, tuning, Ray).
$(VENV)/.installed-core: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-all: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev,llm,serve,tune,scale]"
	touch $@ $(VENV)/.installed-core

demo: $(VENV)/.installed-core
	$(BIN)/personae demo

test: $(VENV)/.installed-all
	$(BIN)/python -m pytest -q

test-fast: $(VENV)/.installed-all
	$(BIN)/python -m pytest -q -m "not slow"

bench: $(VENV)/.installed-all
	$(BIN)/python bench/baselines.py

lint: $(VENV)/.installed-all
	$(BIN)/ruff check personae tests bench

clean:
	rm -rf $(VENV) build *.egg-info
