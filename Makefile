# Targets a newcomer can guess. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)
BENCH_ROWS ?= 1000000
BENCH_CUSTOMERS ?= $(BENCH_ROWS)

.PHONY: install services demo test lint format typecheck bench eval clean

install: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(VENV)/bin/dumpmatch demo --out demo-out

# The database tests start their own PostgreSQL server; its binaries come from Debian's package
# (kept off PATH in /usr/lib/postgresql). Without root or apt the tests say so and skip.
services:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
	  || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; } \
	  || echo "make: could not install postgresql; the database tests will be skipped"

test: install services
	$(PY) -m pytest -q -n 2 tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy transforms pipelines

bench: install
	$(PY) bench/run.py --rows $(BENCH_ROWS) --customers $(BENCH_CUSTOMERS)

eval: install
	$(PY) bench/eval.py

clean:
	rm -rf demo-out bench-out .pytest_cache .mypy_cache .ruff_cache build *.egg-info
