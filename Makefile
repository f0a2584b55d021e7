# Recognition Services: every command a user or CI runs. `make help` lists them.
SHELL := /bin/bash
PY := .venv/bin/python
DATA ?= ../shared/data/mnist.npz

.PHONY: help setup run test lint format bench clean

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]*:)?([a-z-]+):.*## /  \2\t/' | expand -t 20

setup:  ## create .venv and install everything (done by run/test/bench when needed)
	@scripts/bootstrap.sh

run: setup  ## start the whole stack natively on 127.0.0.1 (gateway on :8000); Ctrl-C stops it
	@$(PY) scripts/run_local.py

test:  ## install what is missing, then lint and run the whole test suite
	@scripts/bootstrap.sh --test
	@$(PY) -m ruff check .
	@$(PY) -m pytest

lint:  ## ruff
	@$(PY) -m ruff check .

format:  ## ruff format + autofix
	@$(PY) -m ruff check --fix .
	@$(PY) -m ruff format .

bench: setup  ## start the stack and measure req/s and latency (cache misses, hits, reference server)
	@$(PY) -m bench.run_bench

clean:  ## remove logs and caches (keeps .venv)
	rm -rf .run .pytest_cache .ruff_cache bench/results
