# --- Digit recognizer: training and evaluation (paste into the Makefile) ---------------------
# `make train-digit` trains LeNet-5 (~2 min on 2 CPU cores) and the CNN (~20 min), then scores
# both on the MNIST test split and records the figures in their card.json.
PY ?= .venv/bin/python
DATA ?= ../shared/data/mnist.npz
DIGIT_MODELS ?= digit-service/models
SEED ?= 42

.PHONY: train-digit evaluate-digit

train-digit:
	$(PY) -m digit_service.training.train --model lenet5 --data $(DATA) --out $(DIGIT_MODELS) --seed $(SEED)
	$(PY) -m digit_service.training.train --model cnn --data $(DATA) --out $(DIGIT_MODELS) --seed $(SEED)
	$(PY) -m digit_service.training.evaluate --model-dir $(DIGIT_MODELS)/lenet5 --data $(DATA) --write-card
	$(PY) -m digit_service.training.evaluate --model-dir $(DIGIT_MODELS)/cnn --data $(DATA) --write-card

# Scores the committed models; add WRITE_CARD=--write-card to record the figures in the cards.
evaluate-digit:
	$(PY) -m digit_service.training.evaluate --model-dir $(DIGIT_MODELS)/lenet5 --data $(DATA) $(WRITE_CARD)
	$(PY) -m digit_service.training.evaluate --model-dir $(DIGIT_MODELS)/cnn --data $(DATA) $(WRITE_CARD)
