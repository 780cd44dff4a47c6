"""The evaluation harness: reports agree with metrics.json, intervals, suite, compare, rendering."""

import json
import os
import random
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from eval.analysis import analyse
from eval.suite import load_cases, run_suite
from model.predictor import LabelScore, StatementPrediction
from standpoint.cli import main
from standpoint.records import STANCE_LABELS, StanceRecord

from .conftest import FIXTURES


def _synthetic(n=400, seed=0):
    """Records with gold labels and predictions that are right about 70% of the time."""
    rng = random.Random(seed)
    records, preds = [], []
    for i in range(n):
        gold = {t: rng.choice(STANCE_LABELS) for t in ("foreign_military_presence", "recognition")}
        senti = rng.choice(["positive", "negative", "neutral"])
        records.append(StanceRecord(id=f"s{i}", text="word " * rng.randint(5, 60), stances=gold, sentiment=senti,
                                    notes=(rng.choice(["negation", "sarcasm"]),)))

        def score(label, labels):
            guess = label if rng.random() < 0.7 else rng.choice(labels)
            p = {lab: 0.1 for lab in labels}
            p[guess] = 0.8
            return LabelScore(guess, p)

        preds.append(StatementPrediction(text=records[-1].text,
                                         sentiment=score(senti, ["positive", "negative", "neutral"]),
                                         stances={t: score(g, list(STANCE_LABELS)) for t, g in gold.items()}))
    return records, preds


def test_intervals_contain_point_estimates_and_breakdowns():
    records, preds = _synthetic()
    d = analyse(records, preds)
    for s in [*d["stance"].values(), d["pooled"]]:
        for metric in ("macro_f1", "f_avg"):
            low, high = s["ci"][metric]
            assert low <= s[metric] <= high and high - low < 0.2
    low, high = d["sentiment"]["ci"]["macro_f1"]
    assert low <= d["sentiment"]["macro_f1"] <= high
    # predictions claim 0.8 and are right ~0.7-0.8 of the time: a small but real ECE
    assert 0 < d["stance"]["recognition"]["ece"] < 0.2
    assert set(d["by_tag"]) == {"negation", "sarcasm"} and sum(v["n"] for v in d["by_length"].values()) == 400
    assert all(e["gold"] != e["pred"] and e["examples"] for e in d["errors"]["recognition"])


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self._key, self.images = {}, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._key = attrs.get("data-key")
        if tag == "img":
            self.images.append(attrs.get("src", ""))

    def handle_data(self, data):
        if self._key and data.strip():
            self.cells[self._key] = data.strip()
            self._key = None


def _lookup(metrics, key):
    node = metrics
    for part in key.split("/"):
        node = node[int(part)] if isinstance(node, list) else node.get(part)  # absent renders as "-"
        if node is None:
            return None
    return node


@pytest.fixture(scope="module")
def eval_run(model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    assert main(["eval", "--model", str(model_dir), "--data", str(FIXTURES / "tiny_dev.jsonl"),
                 str(FIXTURES / "tiny_train.jsonl"), "--out", str(out)]) == 0
    return out


def test_report_html_numbers_equal_metrics_json(eval_run):
    metrics = json.loads((eval_run / "metrics.json").read_text())
    parser = _Cells()
    parser.feed((eval_run / "report.html").read_text())
    assert len(parser.cells) > 40
    for key, text in parser.cells.items():
        value = _lookup(metrics, key)
        assert text == ("-" if value is None else f"{value:.4f}"), key
    assert parser.images and all(src.startswith("data:image/png;base64,") for src in parser.images)
    d = metrics["datasets"]["tiny_dev"]
    assert {"majority", "tfidf_logreg"} <= set(d["baselines"])
    assert 0 <= d["stance"]["recognition"]["ece"] <= 1 and len(d["stance"]["recognition"]["ci"]["macro_f1"]) == 2


class _NegationBlind:
    """A test double: an oracle for the suite's expected labels that drops the word 'not' first."""

    def __init__(self, cases, drop_not: bool):
        self.targets = {"foreign_military_presence": "x", "recognition": "y"}
        self.drop_not = drop_not
        self.truth = {}
        for c in cases:
            if c["type"] == "dir":
                self.truth[c["text"]] = {c["target"]: c["expect"]}
                self.truth[c["variant"]] = {c["target"]: c["variant_expect"]}
            elif c["type"] == "inv":
                self.truth[c["text"]] = self.truth[c["variant"]] = {}
            else:
                self.truth[c["text"]] = c["expect"]["stances"]
                self.truth.setdefault("sentiment:" + c["text"], c["expect"].get("sentiment", "neutral"))

    def predict_each(self, texts, targets, sentiment=True):
        out = []
        for text, wanted in zip(texts, targets):
            if self.drop_not:
                text = " ".join(re.sub(r"\bnot\b", " ", text).split())
            known = self.truth.get(text, {})
            out.append(StatementPrediction(
                text=text, sentiment=LabelScore(self.truth.get("sentiment:" + text, "neutral"), {}),
                stances={t: LabelScore(known.get(t, "none"), {}) for t in wanted}))
        return out


def test_suite_shape_and_runner_catches_a_negation_blind_model():
    cases = load_cases("all")
    by_type = {}
    for c in cases:
        by_type[c["type"]] = by_type.get(c["type"], 0) + 1
    assert len(cases) >= 300 and set(by_type) == {"mft", "inv", "dir", "target_swap", "decoupling"}
    assert min(by_type.values()) >= 40, by_type
    oracle, _ = run_suite(_NegationBlind(cases, drop_not=False))
    assert all(r["pass_rate"] == 1.0 for r in oracle.values())
    blind, failures = run_suite(_NegationBlind(cases, drop_not=True))
    assert blind["dir"]["pass_rate"] < 0.2
    assert any(f["type"] == "dir" for f in failures)


def test_eval_suite_on_real_model(model_dir, tmp_path):
    assert main(["eval", "--model", str(model_dir), "--suite", "all", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["suite"]) == {"mft", "inv", "dir", "target_swap", "decoupling"}
    assert all(0 <= r["pass_rate"] <= 1 and r["n"] >= 40 for r in metrics["suite"].values())
    assert "Behavioural suite" in (tmp_path / "report.html").read_text()


def test_compare_two_runs(model_dir, eval_run, tmp_path):
    out = tmp_path / "cmp"
    assert main(["compare", str(eval_run / "metrics.json"), str(model_dir), "--data",
                 str(FIXTURES / "tiny_dev.jsonl"), "--out", str(out)]) == 0
    result = json.loads((out / "compare.json").read_text())
    rows = result["datasets"]["tiny_dev"]
    # the same model against its own saved predictions: no difference, p = 1
    assert rows["pooled macro_f1"]["delta"] == 0 and rows["pooled macro_f1"]["p_value"] == 1.0
    assert "sentiment macro_f1" in rows


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("STANDPOINT_REQUIRE_CHROMIUM"):
        pytest.fail("chromium is required here (STANDPOINT_REQUIRE_CHROMIUM) but not installed")
    pytest.skip("headless chromium not installed (Debian package 'chromium'); .ci/run installs it")


CHECK = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.title = `RENDER images=${imgs.length} ok=${ok} errors=${window.__errors.length}`;
});
</script>"""


def test_report_renders_in_headless_chromium(eval_run, tmp_path):
    browser = _chromium()
    page = tmp_path / "report_checked.html"
    page.write_text((eval_run / "report.html").read_text().replace("</body>", CHECK + "</body>"))
    res = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
                          "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    title = re.search(r"<title>RENDER images=(\d+) ok=(\d+) errors=(\d+)</title>", res.stdout)
    assert title, res.stderr[-2000:]
    images, ok, errors = map(int, title.groups())
    assert images > 0 and ok == images and errors == 0
    console_errors = [line for line in res.stderr.splitlines() if "CONSOLE" in line and "ERROR" in line.upper()]
    assert not console_errors, console_errors
