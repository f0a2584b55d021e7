# Recognition Services: every command a user or CI runs. `make help` lists them.
SHELL := /bin/bash
PY := .venv/bin/python
DATA ?= ../shared/data/mnist.npz

DIGIT_MODELS ?= digit-service/models
CAPTCHA_MODELS ?= captcha-service/models
METER_MODELS ?= meter-service/models
METER_DATA ?= ../shared/data/meter-digits/meterdigits.tar.gz
SEED ?= 42

# Compose v2 plugin (`docker compose`), else the standalone `docker-compose` binary.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)
COMPOSE_GPU := $(COMPOSE) -f docker-compose.yml -f docker-compose.gpu.yml

.PHONY: help setup run test lint format bench bench-meter clean download-mnist download-meter-digits train-digit evaluate-digit train-captcha evaluate-captcha retrain-captcha train-meter evaluate-meter retrain-digit retrain-meter up up-gpu down logs deploy-files

help:  ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([^:]*:)?([a-z-]+):.*## /  \2\t/' | expand -t 24

setup:  ## create .venv and install everything (done by run/test/bench when needed)
	@scripts/bootstrap.sh

run: setup  ## start the whole stack natively on 127.0.0.1 (gateway on :8000); Ctrl-C stops it
	@$(PY) scripts/run_local.py

up:  ## build and start the stack in Docker (gateway on 127.0.0.1:8000; settings: .env.example)
	$(COMPOSE) up -d --build
	@echo "Recognition Services: http://127.0.0.1:$${PUBLISH_PORT:-8000}/  (make logs, make down)"

up-gpu:  ## the same with the recognizers on NVIDIA GPUs (needs the NVIDIA Container Toolkit)
	$(COMPOSE_GPU) up -d --build

down:  ## stop and remove the Docker stack (CPU or GPU)
	$(COMPOSE_GPU) down --remove-orphans

logs:  ## follow the Docker stack's logs
	$(COMPOSE) logs -f --tail=100

# Standard library only: works before `make setup` too, with any Python >= 3.11.
RENDER_PY := $(or $(wildcard $(PY)),python3)
deploy-files:  ## rewrite compose's and Kubernetes' per-task parts from tasks.toml (CHECK=1: only compare)
	@$(RENDER_PY) scripts/render_deploy.py $(if $(CHECK),--check)

test:  ## install what is missing, then lint, type-check and run the whole test suite
	@scripts/bootstrap.sh --test
	@$(PY) -m ruff check .
	@$(PY) -m mypy
	@$(PY) -m pytest

lint:  ## ruff and mypy
	@$(PY) -m ruff check .
	@$(PY) -m mypy

format:  ## ruff format + autofix
	@$(PY) -m ruff check --fix .
	@$(PY) -m ruff format .

bench: setup  ## start the stack and measure req/s and latency (cache misses, hits, reference server)
	@$(PY) -m bench.run_bench

bench-meter: setup  ## start the meter service and gateway, measure a meter photo's latency and req/s
	@$(PY) -m bench.meter_bench

SOAK_SECONDS ?= 600
.PHONY: soak
soak: setup  ## steady mixed traffic on every task for SOAK_SECONDS (600): errors, latency a minute, memory
	@$(PY) -m bench.soak --seconds $(SOAK_SECONDS)

train-digit: setup  ## retrain both digit models from DATA (MNIST .npz in rendered styles, plus junk) and their pair detector, calibrate and score them (~20 + ~75 + ~17 min on 2 shared cores)
	$(PY) -m digit_service.cli train --model lenet5 --data $(DATA) --out $(DIGIT_MODELS) --seed $(SEED)
	$(PY) -m digit_service.cli train --model cnn --data $(DATA) --out $(DIGIT_MODELS) --seed $(SEED)
	$(PY) -m digit_service.cli train-pairs --model-dir $(DIGIT_MODELS)/lenet5 $(DIGIT_MODELS)/cnn --data $(DATA) --seed $(SEED)
	$(PY) -m digit_service.cli evaluate --model-dir $(DIGIT_MODELS)/lenet5 --data $(DATA) --calibrate --write-card
	$(PY) -m digit_service.cli evaluate --model-dir $(DIGIT_MODELS)/cnn --data $(DATA) --calibrate --write-card

download-mnist: setup  ## fetch MNIST with Keras' loader (needs internet) into DATA, for train-digit and evaluate-digit
	$(PY) -m digit_service.cli download --out $(DATA)

evaluate-digit: setup  ## score the digit models on MNIST test: the model alone, then the whole pipeline on MNIST, rendered styles, rows, touching pairs, junk (WRITE_CARD=--write-card records it)
	$(PY) -m digit_service.cli evaluate --model-dir $(DIGIT_MODELS)/lenet5 --data $(DATA) $(WRITE_CARD)
	$(PY) -m digit_service.cli evaluate --model-dir $(DIGIT_MODELS)/cnn --data $(DATA) $(WRITE_CARD)

train-captcha: setup  ## retrain both captcha models on generated captchas (~17 + ~19 min on 2 cores) and score them
	$(PY) -m captcha_service.cli train --preset default --out $(CAPTCHA_MODELS) --seed $(SEED)
	$(PY) -m captcha_service.cli train --preset alnum-4to6 --out $(CAPTCHA_MODELS) --seed $(SEED)
	$(MAKE) evaluate-captcha WRITE_CARD=--write-card

evaluate-captcha: setup  ## score the captcha models on 2,000 fresh captchas (WRITE_CARD=--write-card records it)
	$(PY) -m captcha_service.cli evaluate --model-dir $(CAPTCHA_MODELS)/default --generate 2000 --seed 2026 $(WRITE_CARD)
	$(PY) -m captcha_service.cli evaluate --model-dir $(CAPTCHA_MODELS)/alnum-4to6 --generate 2000 --seed 2026 $(WRITE_CARD)


train-meter: setup  ## retrain the meter's window locator (~25 min on 2 cores) and wheel reader (two averaged, ~35-60 min) and score them
	$(PY) -m meter_service.cli train --data $(METER_DATA) --out $(METER_MODELS) --name default --seed $(SEED)
	$(MAKE) evaluate-meter WRITE_CARD=--write-card

download-meter-digits: setup  ## fetch the public meter-digit crops (haverland, GitHub; needs internet) into METER_DATA, for train-meter and evaluate-meter (FORCE=1 replaces it)
	$(PY) -m meter_service.cli download --out $(METER_DATA) $(if $(FORCE),--force)

evaluate-meter: setup  ## score the meter models: 500 fresh photos, real wheel crops (WRITE_CARD=--write-card records it)
	$(PY) -m meter_service.cli evaluate --model-dir $(METER_MODELS)/default --data $(METER_DATA) $(WRITE_CARD)

# Learning from corrections: each command fetches the corrections of MODEL from the gateway's
# export (FEEDBACK: the gateway's URL or an export zip), fine-tunes the served model, and installs
# and reloads it only when it is better on held-out corrections and no worse on its own evaluation.
FEEDBACK ?= http://127.0.0.1:8000
DIGIT_SERVICE ?= http://127.0.0.1:8001
CAPTCHA_SERVICE ?= http://127.0.0.1:8002
METER_SERVICE ?= http://127.0.0.1:8003
retrain-digit: setup  ## fine-tune the served digit model (MODEL, default cnn) on users' corrections; needs DATA (MNIST)
	$(PY) -m digit_service.cli retrain --feedback $(FEEDBACK) --model $(or $(MODEL),cnn) --data $(DATA) --models-dir $(DIGIT_MODELS) --service $(DIGIT_SERVICE)

retrain-captcha: setup  ## fine-tune the served captcha model on users' corrections; installed and reloaded only if better
	$(PY) -m captcha_service.cli retrain --feedback $(FEEDBACK) --model $(or $(MODEL),default) --models-dir $(CAPTCHA_MODELS) --service $(CAPTCHA_SERVICE)

retrain-meter: setup  ## fine-tune the served meter reader on users' corrections (METER_DATA mixed in when present)
	$(PY) -m meter_service.cli retrain --feedback $(FEEDBACK) --model $(or $(MODEL),default) --data $(METER_DATA) --models-dir $(METER_MODELS) --service $(METER_SERVICE)

clean:  ## remove logs and caches (keeps .venv)
	rm -rf .run .pytest_cache .ruff_cache bench/results
