"""Training logs: JSONL records, a loss/recall PNG, and a rich progress bar on terminals."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class RunLog:
    """Appends one JSON object per line; a resumed run keeps writing to the same file."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = path
        self.enabled = enabled

    def write(self, kind: str, **fields: Any) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"type": kind, **fields}) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    """Records of a log.jsonl (missing file: none)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def plot_log(log_path: Path, png_path: Path) -> Path | None:
    """Loss, validation recall and learning rate per step; None without train records."""
    records = read_log(log_path)
    train = [r for r in records if r["type"] == "train"]
    val = [r for r in records if r["type"] == "val"]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val, ax_lr) = plt.subplots(1, 3, figsize=(12, 3.4), dpi=110)
    steps = [r["step"] for r in train]
    ax_loss.plot(steps, [r["loss"] for r in train], lw=1.2)
    ax_loss.set(xlabel="step", ylabel="loss", title="training loss")
    for key, label in (("t2i_R@1", "text→image R@1"), ("i2t_R@1", "image→text R@1"),
                       ("t2i_R@5", "text→image R@5"), ("mean_recall", "mean recall")):
        pts = [(r["step"], r[key]) for r in val if key in r]
        if pts:
            ax_val.plot(*zip(*pts, strict=True), marker="o", ms=3, label=label)
    best = [(r["step"], r["mean_recall"]) for r in val if r.get("best")]
    if best:
        ax_val.plot(*best[-1], marker="*", ms=12, color="k", ls="", label="kept (best)")
    ax_val.set(xlabel="step", ylabel="recall", title="validation", ylim=(0, 1))
    if val:
        ax_val.legend(fontsize=8, loc="lower right")
    ax_lr.plot(steps, [r["lr"] for r in train], lw=1.2, color="tab:green")
    ax_lr.set(xlabel="step", ylabel="learning rate", title="learning rate")
    for ax in (ax_loss, ax_val, ax_lr):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return png_path


def write_report(log_path: Path, html_path: Path, png_path: Path | None) -> Path:
    """A self-contained HTML training report: the curves and a table of validations."""
    import html

    from jointspace.evaluate.inline import png_img

    records = read_log(log_path)
    start = next((r for r in records if r["type"] == "start"), {})
    end = next((r for r in reversed(records) if r["type"] == "end"), {})
    val = [r for r in records if r["type"] == "val"]
    cols = ["step", "i2t_R@1", "t2i_R@1", "t2i_R@5", "t2i_R@10", "mean_recall"]
    rows = "".join(
        "<tr" + (' class="best"' if r.get("best") else "") + ">"
        + "".join(f"<td>{r.get(c, '')}</td>" for c in cols) + "</tr>" for r in val)
    img = ""
    if png_path is not None and Path(png_path).is_file():
        img = png_img(Path(png_path).read_bytes(), "training curves")
    config = html.escape(json.dumps(start.get("config", {}), indent=1))
    summary = html.escape(json.dumps({k: v for k, v in end.items() if k != "type"}))
    html_path.write_text(
        "<!doctype html><meta charset=utf-8><title>training report</title><style>"
        "body{font-family:system-ui,sans-serif;margin:24px}td,th{border:1px solid #ddd;"
        "padding:3px 8px;text-align:right}table{border-collapse:collapse}"
        ".best{background:#e6f4e6;font-weight:bold}</style>"
        f"<h1>training report</h1><p>{summary}</p>{img}<h2>validation</h2>"
        f"<table><tr>{''.join(f'<th>{c}</th>' for c in cols)}</tr>{rows}</table>"
        f"<h2>configuration</h2><pre>{config}</pre>", encoding="utf-8")
    return html_path


@contextmanager
def progress_bar(enabled: bool, total: int, start: int, description: str = "training"):
    """Yields ``update(step, **fields)``; a no-op unless ``enabled`` and stderr is a terminal."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda step, **fields: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, completed=start, info="")

        def update(step: int, **fields: Any) -> None:
            info = " ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in fields.items())
            bar.update(task, completed=step, info=info)

        yield update
