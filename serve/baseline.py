"""The benchmark's baseline: what a user combining standard classifiers would otherwise write.

    python -m serve.baseline --model artifacts/default --port 8001

FastAPI + uvicorn, one request at a time. The model folder's encoder is loaded as a standard
``AutoModelForSequenceClassification`` twice, once with the stance head's weights as its
classifier and once with the sentiment head's, and each request runs
``transformers.pipeline("text-classification")`` once per text for sentiment and once per
(target description, text) pair for stance. It takes the same request as ``POST /predict`` and
answers in the same shape: only the machinery differs. (The standard class reads BERT's pooled
[CLS] token where Standpoint mean-pools, so its probabilities differ; the work is the same:
one encoder pass per row.)
"""

import argparse
import threading
from pathlib import Path

import torch
import uvicorn
from fastapi import FastAPI
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
from transformers.utils import logging as hf_logging

from model.folder import read_metadata
from serve.schemas import (ModelRef, PredictionResponse, RequestLimits, SentimentScore, StanceScore,
                           StatementResult, bind_request_models)
from serve.settings import ServeSettings, resolve_path
from standpoint.targets import load_targets


def classifier_pipeline(folder: Path, tokenizer, head: str, labels: list[str]):
    """A text-classification pipeline over the folder's encoder, with ``head``'s weights as its classifier."""
    model = AutoModelForSequenceClassification.from_pretrained(
        folder / "encoder", num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, local_files_only=True)
    heads = load_file(folder / "heads.safetensors")
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, torch.nn.Linear) and classifier.weight.shape == heads[f"{head}.weight"].shape:
        classifier.load_state_dict({"weight": heads[f"{head}.weight"], "bias": heads[f"{head}.bias"]})
    model.eval()
    return pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1, top_k=None)


def build_app(model_dir: str | Path, targets_file: str | Path | None, settings: ServeSettings) -> FastAPI:
    folder = Path(model_dir)
    meta = read_metadata(folder)
    targets = dict(meta["targets"])
    for tid, desc in (load_targets(targets_file) if targets_file else {}).items():
        targets.setdefault(tid, desc)
    default_targets = list(meta.get("default_targets") or meta["targets"])
    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer", local_files_only=True)
    stance = classifier_pipeline(folder, tokenizer, "stance_head", meta["stance_labels"])
    sentiment = classifier_pipeline(folder, tokenizer, "sentiment_head", meta["sentiment_labels"])
    window = {"truncation": True, "max_length": int(meta["max_length"])}
    pair_window = {**window, "truncation": "only_second"}  # cut the text, not the target description
    predict_model, _ = bind_request_models(RequestLimits(
        known_targets=tuple(targets), max_texts=settings.max_texts, max_adhoc_targets=settings.max_adhoc_targets))
    one_at_a_time = threading.Lock()
    app = FastAPI(title="Standpoint baseline (transformers.pipeline)")

    def score(output, kind):
        output = output[0] if isinstance(output[0], list) else output  # a one-item batch, for some inputs
        best = max(output, key=lambda d: d["score"])
        return kind(label=best["label"], probability={d["label"]: round(float(d["score"]), 6) for d in output})

    @app.get("/health")
    def health():
        return "ok"

    @app.post("/predict", response_model=PredictionResponse)
    def predict(body: predict_model) -> PredictionResponse:
        texts = body.texts if body.texts is not None else [body.text]
        chosen = {t: targets[t] for t in (body.targets or default_targets)} | body.adhoc()
        results = []
        with one_at_a_time:
            for text in texts:
                stances = {tid: score(stance({"text": desc, "text_pair": text}, **pair_window), StanceScore)
                           for tid, desc in chosen.items()}
                for tid in body.adhoc():
                    stances[tid].adhoc = True
                results.append(StatementResult(text=text, sentiment=score(sentiment(text, **window), SentimentScore),
                                               stances=stances, truncated=False))
        return PredictionResponse(model=ModelRef(name=meta["name"] + "-baseline", version=meta["version"]),
                                  results=results)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="artifacts/default")
    parser.add_argument("--targets", default="configs/targets.yaml")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's, the cores)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()  # the standard class's unused pooler/classifier init warnings
    app = build_app(resolve_path(args.model), resolve_path(args.targets) if args.targets else None,
                    ServeSettings.load())
    print(f"baseline ready at http://127.0.0.1:{args.port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
