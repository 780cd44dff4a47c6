"""Bad training configs fail before any work, saying what to change."""

import pytest

from standpoint.augment import base_spec, parse_spec
from training.config import ConfigError, TrainConfig

from .conftest import FIXTURES


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("train: [a.jsonl]\nvalidation: [b.jsonl]\nepoch: 3\n", r"unknown key\(s\) \['epoch'\]"),
    ("validation: [b.jsonl]\n", "'train' is empty"),
    ("train: [a.jsonl]\n", "'validation' specs, or 'validation_fraction'"),
    ("train: [semeval-train]\nvalidation: [semeval-a-test]\n", "is a test split"),
    ("train: [data/domain/test.jsonl]\nvalidation_fraction: 0.1\n", "is a test split"),
    ("train: [a.jsonl]\nvalidation_fraction: 0.1\nselect_metric: loss\n", "'select_metric' 'loss'"),
    ("train: [a.jsonl]\nvalidation_fraction: 0.1\nlearning_rate: 0\n", "'learning_rate' must be positive"),
    ("train: [a.jsonl\n", "not valid YAML"),
])
def test_bad_config(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_yaml(write(tmp_path, text))


def test_shipped_configs_parse():
    from standpoint.targets import REPO_ROOT

    for name in ("default", "semeval", "teacher", "student", "student-noaug", "student-nodistill"):
        cfg = TrainConfig.from_yaml(REPO_ROOT / "configs" / f"{name}.yaml")
        assert cfg.train
    teacher, student = (TrainConfig.from_yaml(REPO_ROOT / "configs" / f"{n}.yaml") for n in ("teacher", "student"))
    assert teacher.base_encoder == "all-mpnet-base-v2" and student.base_encoder == "all-MiniLM-L6-v2"
    # the student learns on the teacher's data (plus perturbed copies of it) and is picked on the
    # same held-out rows; VAST dev trains on gold stance only (teacher sentiment rows on its long
    # comments would double its cost), every other spec on the teacher's soft labels
    assert sorted({base_spec(s) for s in student.train}) == sorted(teacher.train)
    assert any(parse_spec(s) for s in student.train)
    assert student.carve_seed is not None  # a seed study of the student keeps the teacher's carve
    for key in ("validation", "validation_fraction", "carve_from", "carve_seed"):
        assert getattr(teacher, key) == getattr(student, key), key
    assert set(student.soft_labels) == set(student.train) - {"vast-dev"} and student.distill_weight > 0


def test_default_targets_must_be_trained(tmp_path):
    from training.train import fit

    cfg = TrainConfig(train=[str(FIXTURES / "tiny_train.jsonl")], validation=[str(FIXTURES / "tiny_dev.jsonl")],
                      default_targets=["atheism"])
    with pytest.raises(ConfigError, match=r"default_targets \['atheism'\]"):
        fit(cfg, tmp_path / "w")
