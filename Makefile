# Two commands on a fresh machine:  `make book`  and  `make test`  (both create .venv and install first).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= cpu
export PYTHONHASHSEED := 0

.PHONY: setup test book data-stats bench clean help

help:
	@echo "make book   - set up .venv, then build the book (see README)"
	@echo "make test   - set up .venv, then run the whole test suite"
	@echo "make bench  - run the benchmarks in benchmarks/"

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

setup: $(VENV)/.installed

test: setup
	$(PY) -m pytest -q tests

book: setup
	$(PY) -m nnip.book --preset $(PRESET)

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf _build book/executed .pytest_cache
