# Targets a newcomer can guess. Every target installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat setup.py | cksum | cut -d' ' -f1)
BENCH_ROWS ?= 5000000
BENCH_CUSTOMERS ?= 5000000
BENCH_PG_ROWS ?= 1000000 5000000
BENCH_WORKERS ?= 2

.PHONY: install services browser demo test lint format typecheck bench bench-postgres bench-reverify bench-workers eval template airflow-check clean

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

# The browser tests drive Debian's headless Chromium over the DevTools protocol (no browser download).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null \
	  || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "make: could not install chromium; the browser tests will be skipped"

test: install services browser
	$(PY) -m pytest -q -n 2 tests

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy transforms pipelines bench

bench: install
	$(PY) bench/run.py --rows $(BENCH_ROWS) --customers $(BENCH_CUSTOMERS) --workers $(BENCH_WORKERS)

# sketch straight from a real PostgreSQL server (started like the tests' one) at each size: wall time and
# peak memory of the reader alone, of the sketches alone, and of the whole command (BENCHMARKS.md).
bench-postgres: install services
	$(PY) -m bench.postgres --rows $(BENCH_PG_ROWS)

eval: install
	$(PY) bench/eval.py
	$(PY) bench/eval_normalize.py
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,eval]'
	$(PY) bench/eval_fuzzy.py

# Reverification of one dump: full (parse) against cached (probe the stored digests); BENCHMARKS.md.
BENCH_REVERIFY_ROWS ?= 1000000
bench-reverify: install
	$(PY) -m bench.reverify --rows $(BENCH_REVERIFY_ROWS)

# sketch in one process against two worker processes at each base size, with the whole process tree's
# peak memory: the figures behind sketch's own choice of worker processes (BENCHMARKS.md).
BENCH_WORKERS_CUSTOMERS ?= 1000000 5000000
bench-workers: install
	$(PY) -m bench.workers --customers $(BENCH_WORKERS_CUSTOMERS)

# schedule/airflow_dag.py loaded and run twice by a real Airflow in its own throwaway venv (not in make test:
# Airflow is a large install). Exit 0 must skip the alert task, exit 3 must run it.
airflow-check: install
	DUMPMATCH=$(abspath $(VENV))/bin/dumpmatch schedule/check_airflow.sh

# Dataflow flex template (dataflow/README.md): the image from Dockerfile, built by Cloud Build (no local
# Docker), then the template spec. Needs gcloud and PROJECT, REGION, BUCKET and REPO (an Artifact
# Registry Docker repository); run it with the printed image as sdk_container_image.
TAG ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
IMAGE ?= $(REGION)-docker.pkg.dev/$(PROJECT)/$(REPO)/dumpmatch:$(TAG)
TEMPLATE ?= gs://$(BUCKET)/templates/dumpmatch.json

template:
	@command -v gcloud >/dev/null || { echo "make template: needs gcloud (Google Cloud CLI)" >&2; exit 2; }
	@test -n "$(PROJECT)" -a -n "$(REGION)" -a -n "$(BUCKET)" -a -n "$(REPO)" \
	  || { echo "make template: set PROJECT, REGION, BUCKET and REPO (see dataflow/README.md)" >&2; exit 2; }
	gcloud builds submit --project $(PROJECT) --tag $(IMAGE) .
	gcloud dataflow flex-template build $(TEMPLATE) --project $(PROJECT) --image $(IMAGE) \
	  --sdk-language PYTHON --metadata-file dataflow/metadata.json
	@echo "template $(TEMPLATE); pass sdk_container_image=$(IMAGE) when you run it"

clean:
	rm -rf demo-out bench-out .pytest_cache .mypy_cache .ruff_cache build *.egg-info
