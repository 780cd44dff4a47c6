"""Data ablation: real tiny trainings of a base config and the base plus one extra set."""

import json

import pytest

from training.ablate import ablate, format_table, variants
from training.config import ConfigError

from .conftest import FIXTURES, tiny_config


@pytest.fixture
def extra_set(tmp_path):
    """Six statements under new ids: a stand-in for an extra public data set."""
    lines = (FIXTURES / "tiny_train.jsonl").read_text(encoding="utf-8").splitlines()[:6]
    out = tmp_path / "extra.jsonl"
    out.write_text("".join(json.dumps({**json.loads(l), "id": f"extra-{i}"}) + "\n" for i, l in enumerate(lines)),
                   encoding="utf-8")
    return str(out)


def test_ablation_trains_each_variant_on_the_same_validation(extra_set, tmp_path, monkeypatch):
    base = tiny_config(epochs=3)
    result = ablate(base, [extra_set], tmp_path / "abl", epochs=1)
    table = result["variants"]
    assert list(table) == ["base", f"+{extra_set}"] and result["epochs"] == 1
    plus = table[f"+{extra_set}"]
    assert plus["train_records"] == table["base"]["train_records"] + 6
    assert plus["train_rows"] > table["base"]["train_rows"]
    assert plus["validation"] == table["base"]["validation"]
    for row in table.values():
        assert 0 <= row["score"] <= 1 and 0 <= row["stance_macro_f1"] <= 1
    assert table["base"]["delta_score"] == 0
    assert plus["delta_score"] == pytest.approx(plus["score"] - table["base"]["score"], abs=1e-4)
    saved = json.loads((tmp_path / "abl" / "ablation.json").read_text())
    assert saved["variants"] == table
    assert f"| +{extra_set} |" in format_table(result)

    # a rerun reuses the finished variants instead of training again
    import training.ablate as module

    monkeypatch.setattr(module, "train", lambda *a, **k: pytest.fail("retrained a finished variant"))
    assert ablate(base, [extra_set], tmp_path / "abl", epochs=1)["variants"] == table


def test_added_sets_never_reach_the_carved_validation(extra_set):
    base = tiny_config(train=[str(FIXTURES / "tiny_train.jsonl")], validation=[], validation_fraction=0.3)
    plus = variants(base, [extra_set])[f"+{extra_set}"]
    assert plus.carve_from == base.train and extra_set in plus.train


@pytest.mark.parametrize("add, message", [
    ([str(FIXTURES / "tiny_train.jsonl")], "already trained on"),
    ([str(FIXTURES / "tiny_dev.jsonl")], "validates on it"),
    (["semeval-a-test"], "is a test split"),
])
def test_bad_additions_are_refused(add, message):
    with pytest.raises(ConfigError, match=message):
        variants(tiny_config(), add)
