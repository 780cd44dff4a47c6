"""Perturbed copies (``SPEC~augK``): deterministic records, teacher-only rows, no validation leak."""

from __future__ import annotations

import pytest

from model.modeling import IGNORE
from standpoint.adapters import load_spec
from standpoint.augment import TAG, is_augmented, parse_spec, source_id
from standpoint.records import RecordError, StanceRecord
from standpoint.targets import repo_path
from training.config import ConfigError
from training.soft_labels import read_soft_labels, write_soft_labels

from .conftest import FIXTURES, tiny_config

TINY = str(FIXTURES / "tiny_train.jsonl")
DEV = str(FIXTURES / "tiny_dev.jsonl")


def test_copies_are_deterministic_perturbed_and_unlabelled():
    spec = TINY + "~aug2"
    data, again, orig = load_spec(spec), load_spec(spec), load_spec(TINY)
    assert [(r.id, r.text) for r in data.records] == [(r.id, r.text) for r in again.records]
    assert [r.id for r in data.records] == [f"{o.id}~aug{k}" for o in orig.records for k in (1, 2)]
    by_id = {r.id: r for r in orig.records}
    for rec in data.records:
        src = by_id[source_id(rec.id)]
        assert rec.stances == src.stances and rec.sentiment is None and TAG in rec.notes
        assert rec.text != src.text
        assert set(rec.text.split()) <= set(src.text.split())  # words dropped or moved, none invented
    assert data.targets == orig.targets and data.name == spec
    assert all(is_augmented(r) for r in data.records)
    tagged = StanceRecord(id="user-1", text="x y", stances={"recognition": "favor"}, notes=(TAG,))
    assert not is_augmented(tagged)  # a user's record tagged "augmented" keeps its gold labels


def test_bad_copy_counts_are_clear_errors():
    assert parse_spec("semeval-train") is None and parse_spec("semeval-train~aug3") == ("semeval-train", 3)
    with pytest.raises(RecordError, match="~aug1 .. .*~aug20"):
        load_spec(TINY + "~aug0")
    with pytest.raises(ConfigError, match="~aug1 .. "):
        tiny_config(train=[TINY, TINY + "~aug99"], soft_labels={TINY + "~aug99": "x.jsonl"})


@pytest.mark.parametrize("settings, message", [
    (dict(train=[TINY, TINY + "~aug1"]), r"give each a 'soft_labels' file"),
    (dict(validation=[DEV + "~aug1"]), r"only train; validate on real text"),
    (dict(train=[TINY, TINY + "~aug1"], validation_fraction=0.2, carve_from=[TINY + "~aug1"],
          soft_labels={TINY + "~aug1": "x.jsonl"}), r"only train; validate on real text"),
    (dict(train=["semeval-a-test~aug1"]), "is a test split"),
])
def test_bad_augmented_configs(settings, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**settings)


def test_copies_of_validation_records_never_train():
    from training.train import split_sets

    cfg = tiny_config(train=[TINY, TINY + "~aug2"], validation=[], validation_fraction=0.3, carve_from=[TINY],
                      soft_labels={TINY + "~aug2": "unused.jsonl"}, distill_weight=0.5)
    train_set, val_set = split_sets(cfg, repo_path(cfg.targets_file))
    held = {r.id for r in val_set.records}
    copies = [r for r in train_set.records if TAG in r.notes]
    assert held and copies
    assert not {source_id(r.id) for r in copies} & held
    kept = {r.id for r in train_set.records if TAG not in r.notes}
    assert {source_id(r.id) for r in copies} == kept and len(copies) == 2 * len(kept)


def test_copies_train_on_the_teacher_alone(model_dir, tmp_path):
    """Soft labels are written for the copies like any spec; their rows carry the teacher's
    distribution and no gold label, and a short distillation run on them completes."""
    from model.inputs import RowEncoder
    from model.predictor import Predictor
    from training.train import encode_rows, fit

    spec = TINY + "~aug1"
    copies = load_spec(spec)
    teacher = Predictor(model_dir, backend="torch-fp32")
    soft_path = write_soft_labels(teacher, copies, spec, tmp_path / "aug.jsonl", progress=False)
    soft = read_soft_labels(soft_path, copies, spec)
    assert set(soft) == {r.id for r in copies.records}
    rows = encode_rows(copies, RowEncoder(teacher.tokenizer, 64), soft, 2.0)
    assert len(rows) == sum(len(r.stances) + 1 for r in copies.records)  # each target + a teacher-taught sentiment
    assert all(label == IGNORE for label in rows["labels"]) and all(sum(p) > 0.99 for p in rows["soft_labels"])
    config = tiny_config(name="tiny-aug", epochs=1, train=[TINY, spec], soft_labels={spec: str(soft_path)},
                         distill_weight=0.5)
    _, _, meta = fit(config, tmp_path / "w")
    assert meta["train_data"]["rows"] == 11 * 3 + 1 + len(rows)  # the originals' gold rows plus the copies' rows
