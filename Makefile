# Two commands on a fresh machine:  `make book`  and  `make test`  (both create .venv and install first).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PRESET ?= cpu
export PYTHONHASHSEED := 0

.PHONY: setup test test-kernels book chromium bench clean help

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

# headless Chromium checks the rendered book (Debian package; CI runs as root on Debian)
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# unit + property tests, every notebook under nbmake with preset="tiny" (mocked), and the tiny and the cpu book in
# Chromium, on TEST_WORKERS pytest-xdist processes: the tests of each book are one xdist group (one worker builds and
# checks the tiny book in a folder of its own, another the cpu book in the project; tests/book/conftest.py), the Slurm
# tests another (one worker, mostly waiting on the cluster's queue and time limits), the rest spread over the workers.
# pytest-xdist queues its work units largest first (by number of tests: the symmetrization module, the Slurm tests and
# the two books are the largest groups) and hands them out one per worker in turn, so the books start on two workers.
TEST_WORKERS ?= 3
test: setup chromium
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup tests notebooks --nbmake --durations=15

# The pinned and golden numbers again under other CPUs' kernels, forced on this machine (issue 21; part of make test):
# one process per setting, tests/test_kernel_settings.py
test-kernels: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) -rA tests/test_kernel_settings.py

book: setup
	$(PY) -m nnip.book --preset $(PRESET)

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf _build book/executed .pytest_cache
