"""The standpoint CLI: predict and eval on a real model; bad input gives a message, not a trace."""

import json
import subprocess
import sys

from standpoint.cli import main

from .conftest import FIXTURES


def run_cli(*args, stdin=""):
    return subprocess.run([sys.executable, "-m", "standpoint.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_predict_text_lines_and_jsonl(model_dir, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("Yankees go home!\n\n" + json.dumps({"text": "We recognise Kosovo."}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", "--model", str(model_dir), "--input", str(src), "--output", str(out),
                 "--target", "recognition"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["Yankees go home!", "We recognise Kosovo."]
    assert all(set(r["stances"]) == {"recognition"} and r["sentiment"]["label"] for r in rows)


def test_predict_from_stdin_and_errors(model_dir):
    ok = run_cli("predict", "--model", str(model_dir), stdin="Troops out!\n")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["stances"]["foreign_military_presence"]["label"]
    bad = run_cli("predict", "--model", str(model_dir), "--target", "bases", stdin="Troops out!\n")
    assert bad.returncode == 2 and "unknown target id" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_cli("predict", "--model", "/nonexistent/model", stdin="x\n")
    assert missing.returncode == 2 and "model folder not found" in missing.stderr


def test_eval_writes_metrics_and_report(model_dir, tmp_path):
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(model_dir), "--data", str(FIXTURES / "tiny_dev.jsonl"), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    d = metrics["datasets"]["tiny_dev"]
    assert d["n"] == 6 and d["pooled"]["n"] == 12 and d["sentiment"]["n"] == 6
    for tid in ("foreign_military_presence", "recognition"):
        s = d["stance"][tid]
        assert {"n", "macro_f1", "f_avg", "accuracy", "per_class", "confusion"} <= set(s)
        assert sum(map(sum, s["confusion"]["matrix"])) == 6
    report = (out / "report.md").read_text()
    assert "foreign_military_presence" in report and f"{100 * d['pooled']['f_avg']:.1f}" in report
    assert len((out / "predictions" / "tiny_dev.jsonl").read_text().splitlines()) == 6


def test_eval_bad_data_file(model_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x", "stances": {"recognition": "maybe"}}\n')
    res = run_cli("eval", "--model", str(model_dir), "--data", str(bad), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "bad.jsonl:1" in res.stderr and "stances.recognition" in res.stderr
