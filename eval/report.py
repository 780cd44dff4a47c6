"""report.md and report.html, both rendered from the metrics dict written to metrics.json.

The HTML is one self-contained file (plots are embedded PNGs). Every number cell carries a
``data-key`` naming its path in metrics.json, so a reader (or a test) can check one against the other.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FMT = "{:.4f}"


def _num(x) -> str:
    return FMT.format(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else "-"


def _ci(ci) -> str:
    return f"[{_num(ci[0])}, {_num(ci[1])}]" if ci else "-"


# ---------------------------------------------------------------- markdown
def render_markdown(metrics: dict) -> str:
    m = metrics["model"]
    lines = [f"# Standpoint evaluation: {m['name']} ({m['version']})", "",
             f"Model folder `{m['path']}`, base encoder {m['base_encoder']}. F_avg is the official SemEval-2016 "
             "score (mean F1 of favor and against); pooled pools all targets' rows; per-target mean averages "
             "per-target scores. Intervals: bootstrap 95% over statements (1,000 seeded resamples). "
             "ECE: 15 equal-width bins.", ""]
    for name, d in metrics["datasets"].items():
        lines += [f"## {name} ({d['n']} statements, {d['seconds']} s)", "",
                  "| target | n | macro-F1 | 95% CI | F_avg | 95% CI | accuracy | ECE |",
                  "| --- | ---: | ---: | --- | ---: | --- | ---: | ---: |"]
        for tid, s in d["stance"].items():
            ci = s.get("ci", {})
            lines.append(f"| {tid} | {s['n']} | {_num(s['macro_f1'])} | {_ci(ci.get('macro_f1'))} | {_num(s['f_avg'])} | "
                         f"{_ci(ci.get('f_avg'))} | {_num(s['accuracy'])} | {_num(s.get('ece'))} |")
        p, ptm = d["pooled"], d["per_target_mean"]
        ci = p.get("ci", {})
        lines.append(f"| **pooled** | {p['n']} | {_num(p['macro_f1'])} | {_ci(ci.get('macro_f1'))} | {_num(p['f_avg'])} | "
                     f"{_ci(ci.get('f_avg'))} | | {_num(p.get('ece'))} |")
        lines.append(f"| **per-target mean** | | {_num(ptm['macro_f1'])} | | {_num(ptm['f_avg'])} | | | |")
        s = d["sentiment"]
        if s.get("n"):
            lines += ["", f"Sentiment (n={s['n']}): macro-F1 {_num(s['macro_f1'])} {_ci(s.get('ci', {}).get('macro_f1'))}, "
                      f"accuracy {_num(s['accuracy'])}, ECE {_num(s.get('ece'))}."]
        if d.get("baselines"):
            lines += ["", "Baselines (trained on the model's own training data):", "",
                      "| system | pooled macro-F1 | pooled F_avg | sentiment macro-F1 |", "| --- | ---: | ---: | ---: |",
                      f"| this model | {_num(p['macro_f1'])} | {_num(p['f_avg'])} | {_num(s.get('macro_f1'))} |"]
            for b, row in d["baselines"].items():
                lines.append(f"| {b} | {_num(row['pooled']['macro_f1'])} | {_num(row['pooled']['f_avg'])} | "
                             f"{_num(row['sentiment'].get('macro_f1'))} |")
        if d.get("errors"):
            lines += ["", "Most frequent confusions:", ""]
            for tid, errs in d["errors"].items():
                for e in errs[:3]:
                    ex = "; ".join(f"\"{t[:120]}\"" for t in e["examples"][:2])
                    lines.append(f"- {tid}: gold {e['gold']} -> predicted {e['pred']} ({e['count']}x), e.g. {ex}")
        lines.append("")
    if metrics.get("suite"):
        lines += ["## Behavioural suite", "", "| test type | n | pass rate |", "| --- | ---: | ---: |"]
        lines += [f"| {t} | {r['n']} | {_num(r['pass_rate'])} |" for t, r in metrics["suite"].items()]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- html
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def confusion_png(confusion: dict, title: str) -> str:
    labels, matrix = confusion["labels"], confusion["matrix"]
    fig, ax = plt.subplots(figsize=(3.2, 2.8))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    peak = max(max(row) for row in matrix) if matrix else 0
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", color="white" if v > peak / 2 else "black", fontsize=9)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def reliability_png(rel: dict, ece: float, title: str) -> str:
    fig, ax = plt.subplots(figsize=(3.2, 2.8))
    bins = len(rel["count"])
    centers = [(b + 0.5) / bins for b in range(bins)]
    acc = [a if a is not None else 0 for a in rel["accuracy"]]
    ax.bar(centers, acc, width=1 / bins, edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE {ece:.4f}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return _png(fig)


def _td(value, key: str) -> str:
    return f'<td data-key="{html.escape(key)}">{_num(value)}</td>'


def _td_ci(ci, key: str) -> str:
    if not ci:
        return "<td>-</td>"
    return (f'<td><span data-key="{html.escape(key)}/0">{_num(ci[0])}</span> &ndash; '
            f'<span data-key="{html.escape(key)}/1">{_num(ci[1])}</span></td>')


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.plots img{margin:4px;border:1px solid #eee}
.ex{color:#555;font-size:90%}"""


def render_html(metrics: dict) -> str:
    m = metrics["model"]
    h = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Standpoint evaluation: {h(m['name'])}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Standpoint evaluation: {h(m['name'])} <small>({h(m['version'])})</small></h1>",
             f"<p>Model folder <code>{h(m['path'])}</code>, base encoder {h(m['base_encoder'])}, temperatures "
             f"{h(str(m.get('temperature')))}. F_avg is the official SemEval-2016 score; pooled pools all targets' "
             "rows. Intervals: bootstrap 95% over statements, 1,000 seeded resamples. ECE: 15 equal-width bins.</p>"]
    for name, d in metrics["datasets"].items():
        base = f"datasets/{name}"
        parts.append(f"<h2>{h(name)} <small>({d['n']} statements, {d['seconds']} s)</small></h2>")
        parts.append("<table><tr><th>target</th><th>n</th><th>macro-F1</th><th>95% CI</th><th>F_avg</th>"
                     "<th>95% CI</th><th>accuracy</th><th>ECE</th></tr>")
        for tid, s in d["stance"].items():
            k = f"{base}/stance/{tid}"
            ci = s.get("ci", {})
            parts.append(f"<tr><td>{h(tid)}</td><td>{s['n']}</td>{_td(s['macro_f1'], k + '/macro_f1')}"
                         f"{_td_ci(ci.get('macro_f1'), k + '/ci/macro_f1')}{_td(s['f_avg'], k + '/f_avg')}"
                         f"{_td_ci(ci.get('f_avg'), k + '/ci/f_avg')}{_td(s['accuracy'], k + '/accuracy')}"
                         f"{_td(s.get('ece'), k + '/ece')}</tr>")
        p, k = d["pooled"], f"{base}/pooled"
        ci = p.get("ci", {})
        parts.append(f"<tr><th>pooled</th><td>{p['n']}</td>{_td(p['macro_f1'], k + '/macro_f1')}"
                     f"{_td_ci(ci.get('macro_f1'), k + '/ci/macro_f1')}{_td(p['f_avg'], k + '/f_avg')}"
                     f"{_td_ci(ci.get('f_avg'), k + '/ci/f_avg')}<td></td>{_td(p.get('ece'), k + '/ece')}</tr>")
        ptm, k = d["per_target_mean"], f"{base}/per_target_mean"
        parts.append(f"<tr><th>per-target mean</th><td></td>{_td(ptm['macro_f1'], k + '/macro_f1')}<td></td>"
                     f"{_td(ptm['f_avg'], k + '/f_avg')}<td></td><td></td><td></td></tr></table>")
        s, k = d["sentiment"], f"{base}/sentiment"
        if s.get("n"):
            parts.append("<table><tr><th>sentiment</th><th>n</th><th>macro-F1</th><th>95% CI</th><th>accuracy</th>"
                         f"<th>ECE</th></tr><tr><td>sentiment</td><td>{s['n']}</td>{_td(s['macro_f1'], k + '/macro_f1')}"
                         f"{_td_ci(s.get('ci', {}).get('macro_f1'), k + '/ci/macro_f1')}{_td(s['accuracy'], k + '/accuracy')}"
                         f"{_td(s.get('ece'), k + '/ece')}</tr></table>")
        if d.get("baselines"):
            parts.append("<h3>Baselines</h3><p>Trained on the model's own training data, scored on the same rows "
                         "(targets the training data label).</p><table><tr><th>system</th><th>pooled macro-F1</th>"
                         "<th>pooled F_avg</th><th>sentiment macro-F1</th></tr>"
                         f"<tr><td>this model</td>{_td(p['macro_f1'], base + '/pooled/macro_f1')}"
                         f"{_td(p['f_avg'], base + '/pooled/f_avg')}{_td(s.get('macro_f1'), base + '/sentiment/macro_f1')}</tr>")
            for b, row in d["baselines"].items():
                k = f"{base}/baselines/{b}"
                parts.append(f"<tr><td>{h(b)}</td>{_td(row['pooled']['macro_f1'], k + '/pooled/macro_f1')}"
                             f"{_td(row['pooled']['f_avg'], k + '/pooled/f_avg')}"
                             f"{_td(row['sentiment'].get('macro_f1'), k + '/sentiment/macro_f1')}</tr>")
            parts.append("</table>")
        plots = []
        for tid, st in d["stance"].items():
            plots.append(f"<img alt='confusion {h(tid)}' src='{confusion_png(st['confusion'], f'{name}: {tid}')}'>")
            if st.get("reliability"):
                plots.append(f"<img alt='reliability {h(tid)}' "
                             f"src='{reliability_png(st['reliability'], st['ece'], f'stance head: {tid}')}'>")
        if s.get("n"):
            plots.append(f"<img alt='confusion sentiment' src='{confusion_png(s['confusion'], f'{name}: sentiment')}'>")
            if s.get("reliability"):
                plots.append(f"<img alt='reliability sentiment' "
                             f"src='{reliability_png(s['reliability'], s['ece'], 'sentiment head')}'>")
        parts.append("<div class='plots'>" + "".join(plots) + "</div>")
        if d.get("errors"):
            parts.append("<h3>Most frequent confusions</h3><table><tr><th>target</th><th>gold</th><th>predicted</th>"
                         "<th>count</th><th>examples</th></tr>")
            for tid, errs in d["errors"].items():
                for e in errs:
                    ex = "<br>".join(h(t) for t in e["examples"])
                    parts.append(f"<tr><td>{h(tid)}</td><td>{h(e['gold'])}</td><td>{h(e['pred'])}</td>"
                                 f"<td>{e['count']}</td><td class='ex' style='text-align:left'>{ex}</td></tr>")
            parts.append("</table>")
        for title, key in (("By notes tag", "by_tag"), ("By length", "by_length")):
            if d.get(key):
                parts.append(f"<h3>{title}</h3><table><tr><th>group</th><th>n</th><th>stance macro-F1</th>"
                             "<th>stance accuracy</th><th>sentiment accuracy</th></tr>")
                for g, row in d[key].items():
                    k = f"{base}/{key}/{g}"
                    parts.append(f"<tr><td>{h(g)}</td><td>{row['n']}</td>{_td(row.get('stance_macro_f1'), k + '/stance_macro_f1')}"
                                 f"{_td(row.get('stance_accuracy'), k + '/stance_accuracy')}"
                                 f"{_td(row.get('sentiment_accuracy'), k + '/sentiment_accuracy')}</tr>")
                parts.append("</table>")
    if metrics.get("suite"):
        parts.append("<h2>Behavioural suite</h2><table><tr><th>test type</th><th>n</th><th>pass rate</th></tr>")
        for t, r in metrics["suite"].items():
            parts.append(f"<tr><td>{h(t)}</td><td>{r['n']}</td>{_td(r['pass_rate'], f'suite/{t}/pass_rate')}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
