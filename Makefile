# Targets a newcomer can guess. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)
BENCH_ROWS ?= 1000000
BENCH_CUSTOMERS ?= $(BENCH_ROWS)

.PHONY: install demo test lint format typecheck bench clean

install: $(STAMP)

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: install
	$(VENV)/bin/dumpmatch demo --out demo-out

test: install
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

clean:
	rm -rf demo-out bench-out .pytest_cache .mypy_cache .ruff_cache build *.egg-info
