"""The real encoder, a real short training run: save, reload, predict; targets from config."""

import json
import shutil

import pytest
import torch

from model.folder import ModelFolderError, load_model_folder
from model.modeling import IGNORE, multitask_loss
from model.predictor import Predictor
from standpoint.targets import TargetConfigError

TEXTS = ["The government asked the US to keep its troops here for another decade.",
         "Recognising the junta would reward a coup.",
         "Prices of bread rose again this week."]


def test_training_saves_reloads_and_predicts_the_same(trained):
    model, tokenizer, metadata, folder = trained
    before = Predictor.from_model(model, tokenizer, metadata).predict(TEXTS)
    after = Predictor(folder).predict(TEXTS)
    for a, b in zip(before, after):
        assert a.sentiment.probability == pytest.approx(b.sentiment.probability, abs=1e-5)
        for t in ("foreign_military_presence", "recognition"):
            assert a.stances[t].probability == pytest.approx(b.stances[t].probability, abs=1e-5)
            assert a.stances[t].label == b.stances[t].label
    meta = json.loads((folder / "standpoint.json").read_text())
    assert meta["base_encoder"] == "all-MiniLM-L6-v2" and meta["max_length"] == 64
    assert set(meta["validation_metrics"]) >= {"stance_macro_f1", "sentiment_macro_f1", "score"}
    assert meta["training_config"]["epochs"] == 2
    assert meta["default_targets"] == ["foreign_military_presence", "recognition"]



@pytest.mark.parametrize("native", [True, False])
def test_bf16_training_runs_where_native_and_falls_back_to_fp32(native, monkeypatch, tmp_path, caplog):
    from training import train as training
    from .conftest import tiny_config

    if native and not training.native_bf16():
        pytest.skip("this machine has no native bf16 (AVX512-BF16/AMX CPU or bf16 GPU)")
    monkeypatch.setattr(training, "native_bf16", lambda: native)
    with caplog.at_level("WARNING", logger="standpoint.train"):
        model, tokenizer, metadata = training.fit(tiny_config(bf16=True, epochs=1), tmp_path / "work")
    assert metadata["precision"] == ("bf16-mixed" if native else "fp32")
    assert ("no native bf16" in caplog.text) is not native
    assert next(model.parameters()).dtype == torch.float32  # weights stay fp32; only compute is bf16
    pred = Predictor.from_model(model, tokenizer, metadata).predict(TEXTS)
    assert all(abs(sum(p.sentiment.probability.values()) - 1) < 1e-4 for p in pred)
    assert 0 <= metadata["validation_metrics"]["stance_macro_f1"] <= 1


def test_prediction_shape_and_probabilities(model_dir):
    preds = Predictor(model_dir).predict(TEXTS)
    assert len(preds) == 3
    for p in preds:
        assert set(p.stances) == {"foreign_military_presence", "recognition"}
        for score in [p.sentiment, *p.stances.values()]:
            assert sum(score.probability.values()) == pytest.approx(1.0, abs=1e-4)
            assert score.label == max(score.probability, key=score.probability.get)


def test_sentiment_does_not_depend_on_targets_asked(model_dir):
    predictor = Predictor(model_dir)
    one = predictor.predict(TEXTS, targets=["recognition"])
    two = predictor.predict(TEXTS, targets=["foreign_military_presence", "recognition"])
    for a, b in zip(one, two):
        assert a.sentiment.probability == pytest.approx(b.sentiment.probability, abs=1e-5)
        assert set(a.stances) == {"recognition"}


def test_new_target_added_by_config_alone(model_dir, tmp_path):
    extra = tmp_path / "targets.yaml"
    extra.write_text("targets:\n  nato_enlargement:\n    description: NATO admitting new member states\n")
    with pytest.raises(TargetConfigError, match="unknown target id.*nato_enlargement"):
        Predictor(model_dir).predict(TEXTS, targets=["nato_enlargement"])
    preds = Predictor(model_dir, targets_file=extra).predict(TEXTS, targets=["nato_enlargement", "recognition"])
    assert all(set(p.stances) == {"nato_enlargement", "recognition"} for p in preds)
    assert all(p.stances["nato_enlargement"].label in ("favor", "against", "none") for p in preds)


def test_adhoc_target_and_unknown_target(model_dir):
    predictor = Predictor(model_dir)
    preds = predictor.predict(TEXTS[:1], targets=["recognition"], adhoc={"wagner": "Russian mercenaries in Africa"})
    assert set(preds[0].stances) == {"recognition", "wagner"} and preds[0].adhoc_targets == ["wagner"]
    with pytest.raises(TargetConfigError, match="known: .*foreign_military_presence"):
        predictor.predict(TEXTS, targets=["bases"])


def test_long_text_is_truncated_and_flagged(model_dir):
    predictor = Predictor(model_dir)
    long_text = " ".join(["The foreign troops must leave the country now."] * 40)
    short, long_ = predictor.predict(["Troops out.", long_text])
    assert not short.truncated and long_.truncated
    assert long_.stances["foreign_military_presence"].label in ("favor", "against", "none")


def test_batching_does_not_change_predictions(model_dir):
    texts = TEXTS * 5 + ["A much longer statement about the base " * 5]
    a = Predictor(model_dir, batch_size=1).predict(texts)
    b = Predictor(model_dir, batch_size=64).predict(texts)
    for x, y in zip(a, b):
        assert x.stances["recognition"].probability == pytest.approx(y.stances["recognition"].probability, abs=1e-4)


def test_broken_model_folder_is_a_clear_error(model_dir, tmp_path):
    with pytest.raises(ModelFolderError, match="model folder not found"):
        load_model_folder(tmp_path / "nope")
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "heads.safetensors").unlink()
    with pytest.raises(ModelFolderError, match="missing heads.safetensors"):
        load_model_folder(broken)
    shutil.copytree(model_dir, tmp_path / "badmeta")
    meta = tmp_path / "badmeta" / "standpoint.json"
    doc = json.loads(meta.read_text())
    doc["stance_labels"] = ["pro", "con", "none"]
    meta.write_text(json.dumps(doc))
    with pytest.raises(ModelFolderError, match="differ from the contract"):
        load_model_folder(tmp_path / "badmeta")
    meta.write_text("{not json")
    with pytest.raises(ModelFolderError, match="not valid JSON"):
        load_model_folder(tmp_path / "badmeta")


def test_masked_loss_ignores_unlabelled_rows():
    torch.manual_seed(0)
    stance, senti = torch.randn(4, 3), torch.randn(4, 3)
    tasks = torch.tensor([0, 0, 1, 0])
    labels = torch.tensor([1, IGNORE, 2, IGNORE])
    loss = multitask_loss(stance, senti, tasks, labels)
    expected = (torch.nn.functional.cross_entropy(stance[:1], labels[:1])
                + torch.nn.functional.cross_entropy(senti[2:3], labels[2:3]))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # changing the logits of an unlabelled row changes nothing
    stance2 = stance.clone()
    stance2[1] += 10
    assert multitask_loss(stance2, senti, tasks, labels).item() == pytest.approx(loss.item(), rel=1e-6)


def test_rows_skip_unlabelled_targets():
    from transformers import AutoTokenizer

    from model.encoders import resolve_encoder
    from model.inputs import RowEncoder
    from standpoint.adapters import load_spec
    from training.train import encode_rows

    from .conftest import FIXTURES

    data = load_spec(str(FIXTURES / "tiny_train.jsonl"))
    rows = encode_rows(data, RowEncoder(AutoTokenizer.from_pretrained(resolve_encoder("all-MiniLM-L6-v2")), 64))
    # 11 records x (2 stance + 1 sentiment) + t-12: one stance row, no sentiment
    assert rows.num_rows == 11 * 3 + 1
