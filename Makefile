# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
WHEELS := .wheels
# llama-cpp-python (its OpenAI-compatible server is what the remote-backend test talks to) is built from source.
# A native build dies with "Illegal instruction" on another CPU, so it targets any x86-64 with AVX2, once per
# clone, into .wheels/ (pip's own wheel cache would hand back a build made with other flags).
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_FLAGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: demo test test-fast system-deps docs bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch is pinned in pyproject.toml to the CPU build that pip finds on this machine.
# The demo needs only the core package; the tests need every extra (LLM lab, service, tuning, Ray, docs).
$(VENV)/.installed-core: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(WHEELS)/.llama-cpp: | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_FLAGS)" $(BIN)/pip wheel --quiet --no-deps --no-cache-dir -w $(WHEELS) "$(LLAMA_CPP)"
	touch $@

$(VENV)/.installed-all: $(BIN)/python pyproject.toml $(WHEELS)/.llama-cpp
	$(BIN)/pip install --quiet --find-links $(WHEELS) -e ".[dev,llm,serve,tune,scale,docs]"
	touch $@ $(VENV)/.installed-core

demo: $(VENV)/.installed-core
	$(BIN)/personae demo

# Debian's chromium and postgresql: installed when run as root, else one line saying what to install.
system-deps:
	@.ci/system-deps

test: system-deps $(VENV)/.installed-all
	$(BIN)/python -m pytest -q

test-fast: system-deps $(VENV)/.installed-all
	$(BIN)/python -m pytest -q -m "not slow"

docs: $(VENV)/.installed-all
	$(BIN)/mkdocs build --strict

bench: $(VENV)/.installed-all
	$(BIN)/python bench/baselines.py

lint: $(VENV)/.installed-all
	$(BIN)/ruff check personae tests bench

clean:
	rm -rf $(VENV) $(WHEELS) site build *.egg-info
