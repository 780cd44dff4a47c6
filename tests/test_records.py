"""The labelling contract: good records load, bad ones fail naming file, line and field."""

import json

import pytest

from standpoint.records import RecordError, load_jsonl, records_to_dataset
from standpoint.targets import TargetConfigError, load_targets

GOOD = {"id": "x-1", "text": "Troops out!", "stances": {"foreign_military_presence": "against"},
        "sentiment": "negative"}


def write(tmp_path, lines):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_good_file_loads_and_unlabelled_stays_absent(tmp_path):
    path = write(tmp_path, [json.dumps(GOOD), json.dumps({"id": "x-2", "text": "Hello", "stances": {}})])
    records = load_jsonl(path)
    assert [r.id for r in records] == ["x-1", "x-2"]
    assert "recognition" not in records[0].stances  # unlabelled, not none
    assert records[1].sentiment is None
    ds = records_to_dataset(records)
    assert ds.num_rows == 2 and ds[0]["stance_targets"] == ["foreign_military_presence"]
    assert ds[1]["stance_targets"] == [] and ds[1]["sentiment"] is None


@pytest.mark.parametrize("bad, field", [
    ({**GOOD, "stances": {"recognition": "pro"}}, "stances.recognition"),
    ({**GOOD, "sentiment": "angry"}, "sentiment"),
    ({k: v for k, v in GOOD.items() if k != "text"}, "text"),
    ({**GOOD, "text": "   "}, "text"),
    ({**GOOD, "id": ""}, "id"),
    ({**GOOD, "notes": 3}, "notes"),
])
def test_bad_record_names_file_line_and_field(tmp_path, bad, field):
    path = write(tmp_path, [json.dumps(GOOD), json.dumps(bad)])
    with pytest.raises(RecordError) as err:
        load_jsonl(path)
    msg = str(err.value)
    assert f"{path}:2" in msg and f"'{field}'" in msg


def test_bad_json_and_duplicate_id(tmp_path):
    path = write(tmp_path, [json.dumps(GOOD), '{"id": "x-9", "text": '])
    with pytest.raises(RecordError, match=r"data.jsonl:2: bad JSON"):
        load_jsonl(path)
    path = write(tmp_path, [json.dumps(GOOD), json.dumps(GOOD)])
    with pytest.raises(RecordError, match=r":2: field 'id': duplicate id 'x-1' \(first on line 1\)"):
        load_jsonl(path)


def test_unknown_target_lists_known(tmp_path):
    path = write(tmp_path, [json.dumps({**GOOD, "stances": {"bases": "favor"}})])
    with pytest.raises(RecordError, match=r"'stances.bases': unknown target id \(known: .*recognition"):
        load_jsonl(path, known_targets=load_targets())


def test_targets_config_errors(tmp_path):
    assert {"foreign_military_presence", "recognition"} <= set(load_targets())
    bad = tmp_path / "t.yaml"
    bad.write_text("targets:\n  nato:\n    description: ''\n")
    with pytest.raises(TargetConfigError, match="needs a non-empty 'description'"):
        load_targets(bad)
    bad.write_text("foo: [1, 2]\n")
    with pytest.raises(TargetConfigError, match="top-level 'targets:'"):
        load_targets(bad)
    with pytest.raises(TargetConfigError, match="not found"):
        load_targets(tmp_path / "missing.yaml")
