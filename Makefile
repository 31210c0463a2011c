# Shelfwise: `make run` for the demo, `make test` for the whole suite. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS_RUN := web,forecast
EXTRAS_TEST := web,forecast,spark,orchestrate,dev
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: run test lint format bench system-deps clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[$(EXTRAS_RUN)]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[$(EXTRAS_TEST)]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)  ## install and run the demo on embedded defaults, then serve the website
	$(BIN)/shelfwise demo

system-deps:  ## install PostgreSQL, MariaDB, Chromium and Java where missing (needs root)
	bash scripts/install-system-deps.sh

test: system-deps $(STAMP_TEST)  ## install everything the tests need and run the whole suite
	mkdir -p reports
	$(BIN)/python -m pytest -rs --junitxml=reports/junit.xml $(PYTEST_ARGS)

lint: $(STAMP_TEST)  ## ruff and mypy
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/mypy tests

format: $(STAMP_TEST)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP_TEST)  ## run the benchmarks and print their figures (see BENCHMARKS.md)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
