# Recognition Services: every command a user or CI runs. `make help` lists them.
SHELL := /bin/bash
PY := .venv/bin/python
DATA ?= ../shared/data/mnist.npz

DIGIT_MODELS ?= digit-service/models
SEED ?= 42

.PHONY: help setup run test lint format bench clean train-digit evaluate-digit

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

train-digit: setup  ## retrain both digit models from $(DATA) (~2 + ~20 min on 2 cores) and score them
	$(PY) -m digit_service.training.train --model lenet5 --data $(DATA) --out $(DIGIT_MODELS) --seed $(SEED)
	$(PY) -m digit_service.training.train --model cnn --data $(DATA) --out $(DIGIT_MODELS) --seed $(SEED)
	$(PY) -m digit_service.training.evaluate --model-dir $(DIGIT_MODELS)/lenet5 --data $(DATA) --write-card
	$(PY) -m digit_service.training.evaluate --model-dir $(DIGIT_MODELS)/cnn --data $(DATA) --write-card

evaluate-digit: setup  ## score the digit models on MNIST test (WRITE_CARD=--write-card records it)
	$(PY) -m digit_service.training.evaluate --model-dir $(DIGIT_MODELS)/lenet5 --data $(DATA) $(WRITE_CARD)
	$(PY) -m digit_service.training.evaluate --model-dir $(DIGIT_MODELS)/cnn --data $(DATA) $(WRITE_CARD)

clean:  ## remove logs and caches (keeps .venv)
	rm -rf .run .pytest_cache .ruff_cache bench/results
