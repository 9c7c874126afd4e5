"""How the evaluate and classify commands print their results (``--json`` prints the data)."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from jointspace.cli.render import console, err_console

TEMPLATE_WEIGHTS_SHOWN = 3  # ZPE: heaviest and lightest templates printed; --json has them all


def render_summary(d: dict) -> None:
    console.print(f"[bold]{d['task']}[/]: {escape(d['model'])} on {escape(d['dataset'])}",
                  highlight=False, markup=True)
    t = Table()
    t.add_column("metric")
    t.add_column("value", justify="right")
    for k, v in d["metrics"].items():
        if "@1000" not in k and not k.startswith(("precision@", "map@")):
            t.add_row(k, f"{v:.4f}")
    console.print(t)
    _render_ablation(d.get("ablation") or [])
    _render_template_weights(d.get("template_weights") or [])
    for kind, path in d["files"].items():
        console.print(f"{kind}: {path}", highlight=False, markup=False)
    bad = d["unreadable"]
    if bad["count"]:
        err_console.print(f"warning: {bad['count']} file(s) could not be read and were left out "
                          "of the metrics:", highlight=False, markup=False, soft_wrap=True)
        for e in bad["files"]:
            err_console.print(f"  {e['path']}: {e['reason']}", highlight=False, markup=False,
                              soft_wrap=True)
        if bad["count"] > len(bad["files"]):
            err_console.print(f"  ... and {bad['count'] - len(bad['files'])} more (see the "
                              "json report)", highlight=False, markup=False)


def _render_ablation(rows: list[dict]) -> None:
    """Plain vs method, as the report's ablation table (same data, same run)."""
    if not rows:
        return
    t = Table(title="Ablation: plain vs method")
    for name in ("method", "metric", "plain", "with method", "change"):
        t.add_column(name, justify="left" if name in ("method", "metric") else "right")
    for r in rows:
        before, after = r["plain"], r["with_method"]
        change = "-" if before is None or after is None else f"{after - before:+.4f}"
        t.add_row(r["method"], r["metric"], _num(before), _num(after), change)
    console.print(t)


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def _render_template_weights(rows: list[dict], shown: int = TEMPLATE_WEIGHTS_SHOWN) -> None:
    """ZPE's heaviest and lightest templates (rows come heaviest first; --json has them all)."""
    if not rows:
        return
    n = len(rows)
    picked = rows if n <= 2 * shown else [*rows[:shown], None, *rows[-shown:]]
    console.print(f"ZPE template weights, heaviest first ({n} templates):", markup=False,
                  highlight=False)
    for w in picked:
        line = f"  ... {n - 2 * shown} more" if w is None else f"  {w['weight']:.4f}  {w['template']}"
        console.print(line, markup=False, highlight=False)


def render_compare(d: dict) -> None:
    t = Table()
    t.add_column("metric")
    for c in d["columns"]:
        t.add_column(c, justify="right")
    for row in d["rows"]:
        cells = ["-" if v is None else Text(f"{v:.4f}", style="bold" if i == row["best"] else "")
                 for i, v in enumerate(row["values"])]
        t.add_row(row["metric"], *cells)
    console.print(t)
    for c, ds in zip(d["columns"], d["datasets"], strict=True):
        console.print(f"{c}: {ds}", highlight=False, markup=False)


def render_predictions(d: dict) -> None:
    t = Table()
    t.add_column("image")
    t.add_column("label")
    t.add_column("top classes (probability)")
    for r in d["predictions"]:
        top = ", ".join(f"{x['label']} {x['probability']:.2f}" for x in r["top"])
        t.add_row(Path(r["path"]).name, r["label"], top)
    console.print(t)
    _render_template_weights(d.get("template_weights") or [])
    for e in d["errors"]:
        err_console.print(f"error: {e['path']}: {e['reason']}", highlight=False, soft_wrap=True)


def render_tags(d: dict) -> None:
    console.print(f"tagged {d['tagged']} image(s) of {d['collection']} into metadata "
                  f"'{d['field']}' ({d['skipped']} other item(s) skipped)", markup=False)
    for label, n in d["counts"].items():
        console.print(f"  {n:6d}  {label}", markup=False)
    _render_template_weights(d.get("template_weights") or [])
