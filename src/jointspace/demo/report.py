"""The demo's HTML report: one self-contained file (images inlined as base64 PNG)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.evaluate.inline import png_img
from jointspace.worlds.evaluate import WorldReport
from jointspace.worlds.vocab import colour_names, shape_names

# First targets from the issue; the report shows each number next to its target.
TARGETS = {"P@10 seen": 0.95, "P@10 heldout": 0.95, "P@10 paraphrase": 0.93,
           "zero-shot heldout": 0.9}

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}th{background:#f4f4f4}
.grid{display:flex;flex-wrap:wrap;gap:6px}.hit{text-align:center;font-size:11px;width:100px}
.hit img,.query img{width:96px;height:96px;image-rendering:pixelated;border:3px solid #ccc}
.ok img{border-color:#2a9d3a}.bad img{border-color:#d33}.q{margin:18px 0}
.meta{color:#666;font-size:12px}.pass{color:#2a9d3a}.fail{color:#d33}code{background:#f4f4f4}
"""


def _file_img(path: str | None, alt: str = "") -> str:
    if not path or not Path(path).is_file():
        return ""
    return png_img(Path(path).read_bytes(), alt)


def _metrics_table(report: WorldReport) -> str:
    rows = []
    for name, value in report.summary().items():
        target = TARGETS.get(name)
        mark = "" if target is None else (
            f' <span class="{"pass" if value >= target else "fail"}">(target {target})</span>')
        rows.append(f"<tr><th>{html.escape(name)}</th><td>{value:.3f}{mark}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _query_block(q: Any, k: int) -> str:
    title = html.escape(q.query.title)
    what = (f"text <code>{html.escape(q.query.text)}</code>" if q.query.text else
            f"image of a {html.escape(q.query.image_of)}")
    if q.query.where:
        what += f", filter <code>{html.escape(q.query.where)}</code>"
    score = "" if q.precision is None else f" — precision@{k} {q.precision:.2f}"
    held = " (held-out composition)" if q.heldout else ""
    cells = []
    if q.image_path:
        cells.append(f'<div class="hit query">{_file_img(q.image_path, "query")}<br>query</div>')
    for h in q.hits:
        cls = "" if h["relevant"] is None else ("ok" if h["relevant"] else "bad")
        labels = ", ".join(h["metadata"].get("labels", []))
        cells.append(f'<div class="hit {cls}">{_file_img(h.get("path"), labels)}<br>'
                     f'{h["score"]:.3f}<br><span class="meta">{html.escape(labels)}</span></div>')
    return (f'<div class="q"><b>{title}</b>{held}: {what}{score}'
            f'<div class="grid">{"".join(cells)}</div></div>')


def _shape_confusion(cm_100: list[list[int]]) -> np.ndarray:
    """Collapse a composition confusion matrix (colour-major order) to shapes."""
    n_c, n_s = len(colour_names()), len(shape_names())
    cm = np.asarray(cm_100).reshape(n_c, n_s, n_c, n_s)
    return cm.sum(axis=(0, 2))


def write_report(path: Path, report: WorldReport, queries: list, train: dict[str, Any],
                 heldout: list[tuple[str, str]], k: int) -> Path:
    """Write the HTML report and return its path."""
    from jointspace.evaluate.plots import confusion_heatmap

    held = ", ".join(f"{c} {s}" for c, s in heldout)
    parts = [
        "<!doctype html><meta charset='utf-8'><title>jointspace demo</title>",
        f"<style>{_CSS}</style><h1>jointspace demo: a joint space trained from scratch</h1>",
        (f"<p class='meta'>model <code>hf:{html.escape(train['model_dir'])}</code>, "
         f"{train['steps']} steps in {train['train_seconds']} s (+{train['setup_seconds']} s "
         f"data and text caching). Held-out compositions (never in training): {held}.</p>"),
        "<h2>Metrics on the test split</h2>", _metrics_table(report),
        (f"<p class='meta'>P@{k}: the 100 single-object queries \"a &lt;colour&gt; "
         "&lt;shape&gt;\"; a hit is relevant when the image contains such an object. Zero-shot: "
         "single-object images classified among all 100 compositions. Recall: captions of the "
         "first 1000 test images.</p>"),
        "<h2>Example queries</h2>", *[_query_block(q, k) for q in queries],
        "<h2>Training curves</h2>", _file_img(train.get("plot"), "training curves"),
        ("<h2>Zero-shot confusion (shapes)</h2><p class='meta'>Rows: true shape, columns: "
         "predicted shape, over single-object images of held-out compositions.</p>"),
        png_img(confusion_heatmap(_shape_confusion(report.confusion["heldout"]).tolist(),
                                  shape_names()), "shape confusion, held-out"),
        "<h2>Zero-shot confusion (all 100 compositions, seen)</h2>",
        png_img(confusion_heatmap(report.confusion["seen"],
                                  [f"{c} {s}" for c in colour_names() for s in shape_names()]),
                "composition confusion"),
    ]
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
