"""A self-contained HTML page for an ``EvalReport``: tables, plots and thumbnails inlined as base64.

``render_html(report)`` builds the page; ``write_report(report, out_dir)`` writes
``report.json`` + ``report.html`` (:mod:`jointspace.evaluate.screenshot` renders it to PNG).
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from string import Template

from jointspace.evaluate import plots
from jointspace.evaluate.inline import png_img, thumbnail
from jointspace.evaluate.report import EvalReport


def write_report(report: EvalReport, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = report.save(out / "report.json")
    html_path = out / "report.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


def render_html(report: EvalReport) -> str:
    """The full page for one report."""
    sections = {"zeroshot": _zeroshot, "retrieval": _retrieval, "beir": _beir}
    body = [_metrics_table(report)]
    body += sections.get(report.task, lambda r: [])(report)
    body.append(_settings_table(report))
    template = Template(
        resources.files("jointspace.evaluate").joinpath("templates/report.html").read_text("utf-8")
    )
    sub = (f"model <code>{_e(report.model)}</code> · dataset <code>{_e(report.dataset)}</code> "
           f"(sha256 {report.dataset_hash[:12]}) · jointspace {_e(report.jointspace_version)} · "
           f"{_e(report.created)}")
    return template.substitute(title=_e(f"{report.task} evaluation: {report.label}"),
                               subtitle=sub, body="\n".join(body))


def _e(x: object) -> str:
    return html.escape(str(x))


def _fmt(v: object) -> str:
    if v is None:
        return "–"
    return f"{v:.4f}" if isinstance(v, float) else _e(v)


def _metrics_table(r: EvalReport) -> str:
    """Plain metrics one per row; ``name@k`` families as a (name x k) grid."""
    plain = {k: v for k, v in r.metrics.items() if "@" not in k or k.startswith("tuned")}
    grid: dict[str, dict[str, float]] = {}
    for key, v in r.metrics.items():
        if key not in plain:
            name, _, k = key.rpartition("@")
            grid.setdefault(name, {})[k] = v
    rows = "".join(f"<tr><th>{_e(k)}</th><td class='num'>{_fmt(v)}</td></tr>"
                   for k, v in plain.items())
    out = f"<h2>Metrics</h2><table class='metrics'>{rows}</table>" if rows else "<h2>Metrics</h2>"
    if grid:
        ks = list(dict.fromkeys(k for fam in grid.values() for k in fam))
        head = "".join(f"<th>@{_e(k)}</th>" for k in ks)
        body = "".join(
            f"<tr><th>{_e(name)}</th>"
            + "".join(f"<td class='num'>{_fmt(fam.get(k, ''))}</td>" for k in ks) + "</tr>"
            for name, fam in grid.items())
        out += f"<table class='metrics'><tr><th></th>{head}</tr>{body}</table>"
    return out


def _settings_table(r: EvalReport) -> str:
    items = {**{k: v for k, v in r.settings.items() if k != "template_list"}, **r.timings}
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in items.items())
    return f"<h2>Settings and timings</h2><table>{rows}</table>"


def _zeroshot(r: EvalReport) -> list[str]:
    d = r.details
    classes, per_class = d["classes"], d["per_class"]
    out = ["<h2>Per-class recall</h2>",
           png_img(plots.per_class_bars(classes, [p["recall"] for p in per_class], "recall"),
                   "per-class recall", "plot"),
           "<h2>Confusion matrix</h2>",
           png_img(plots.confusion_heatmap(d["confusion_matrix"], classes), "confusion matrix",
                   "plot")]
    rows = "".join(
        f"<tr><td>{_e(p['class'])}</td><td class='num'>{p['support']}</td>"
        f"<td class='num'>{_fmt(p['recall'])}</td><td class='num'>{_fmt(p['precision'])}</td>"
        f"<td>{_e(p['confused_with'] or '')}</td></tr>" for p in per_class)
    out.append("<h2>Per-class table</h2><table><tr><th>class</th><th>n</th><th>recall</th>"
               f"<th>precision</th><th>most confused with</th></tr>{rows}</table>")
    for kind, title in (("hits", "Most confident hits"), ("misses", "Most confident misses")):
        cards = "".join(
            f"<div class='card'>{thumbnail(x['path'])}true <b>{_e(x['true'])}</b><br>"
            f"predicted <span class='{'ok' if kind == 'hits' else 'bad'}'>{_e(x['predicted'])}"
            f"</span> ({x['score']:.3f})</div>" for x in d["examples"][kind])
        out.append(f"<h2>{title}</h2><div class='grid'>{cards or 'none'}</div>")
    if r.settings.get("prompt_weights") == "zpe":  # ZPE: every template's weight, heaviest first
        rows = "".join(f"<tr><td>{_e(w['template'])}</td><td class='num'>{w['weight']:.4f}</td>"
                       "</tr>" for w in d.get("template_weights", []))
        out.append("<h2>Template weights (ZPE)</h2><table><tr><th>template</th><th>weight</th>"
                   f"</tr>{rows}</table>")
    return out + ablation_table(d.get("ablation") or []) + _errors(d)


def _retrieval(r: EvalReport) -> list[str]:
    d = r.details
    c = d["recall_curve"]
    out = ["<h2>Recall@K</h2>",
           png_img(plots.recall_curves(c["k"], {"image→text": c["i2t"], "text→image": c["t2i"]},
                                       "recall@K"), "recall curves", "plot")]
    for kind, title in (("hits", "Text→image hits"), ("misses", "Text→image misses (worst)")):
        cards = "".join(
            f"<div class='card'>“{_e(x['caption'])}”<br>rank <b>{x['rank']}</b>"
            f"<div class='pair'><div>correct{thumbnail(x['true_path'])}</div>"
            f"<div>top 1{thumbnail(x['top_path'])}</div></div></div>"
            for x in d["examples"][kind])
        out.append(f"<h2>{title}</h2><div class='grid'>{cards or 'none'}</div>")
    return out + ablation_table(d.get("ablation") or []) + _errors(d)


def ablation_table(rows: list[dict]) -> list[str]:
    """Plain vs method, same data, same run (the quality layer's rows)."""
    if not rows:
        return []
    body = "".join(f"<tr><td>{_e(x['method'])}</td><td>{_e(x['metric'])}</td>"
                   f"<td>{_fmt(x['plain'])}</td><td>{_fmt(x['with_method'])}</td></tr>"
                   for x in rows)
    return ["<h2>Ablation: plain vs method</h2><table><tr><th>method</th><th>metric</th>"
            f"<th>plain</th><th>with method</th></tr>{body}</table>"]


def _beir(r: EvalReport) -> list[str]:
    d = r.details
    ks = [k for k in r.settings.get("k_values", []) if f"recall@{k}" in r.metrics]
    out = ["<h2>Recall@K and nDCG@K</h2>",
           png_img(plots.recall_curves(ks, {"recall": [r.metrics[f"recall@{k}"] for k in ks],
                                            "nDCG": [r.metrics[f"ndcg@{k}"] for k in ks]},
                                       "mean over queries", ylabel="metric@K"), "recall curve",
                   "plot")]
    per_query = d.get("per_query", {})
    if per_query:
        out += ["<h2>nDCG@10 per query</h2>",
                png_img(plots.histogram([q["ndcg@10"] for q in per_query.values()], "nDCG@10"),
                        "nDCG@10 histogram", "plot")]
    for kind, title in (("hits", "Best queries"), ("misses", "Worst queries")):
        rows = "".join(
            f"<tr><td>{_e(x['query'])}</td><td class='num'>{x['ndcg@10']:.3f}</td><td>"
            + "<br>".join(f"<span class='{'ok' if t['relevant'] else 'bad'}'>"
                          f"{t['score']:.3f}</span> {_e(t['title'][:90])}" for t in x["top"])
            + "</td><td>" + "<br>".join(_e(t["title"][:90]) for t in x["relevant"]) + "</td></tr>"
            for x in d.get("examples", {}).get(kind, []))
        out.append(f"<h2>{title}</h2><table><tr><th>query</th><th>nDCG@10</th><th>top 3</th>"
                   f"<th>relevant</th></tr>{rows}</table>")
    return out


def _errors(d: dict) -> list[str]:
    errs = d.get("errors") or []
    if not errs:
        return []
    rows = "".join(f"<tr><td>{_e(e['path'])}</td><td>{_e(e['reason'])}</td></tr>"
                   for e in errs[:50])
    return [f"<h2>Unreadable files ({len(errs)})</h2><table>{rows}</table>"]
