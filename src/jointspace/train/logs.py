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
    """Loss per step and validation recall per step, side by side; None without train records."""
    records = read_log(log_path)
    train = [r for r in records if r["type"] == "train"]
    val = [r for r in records if r["type"] == "val"]
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1.2)
    ax_loss.set(xlabel="step", ylabel="loss", title="training loss")
    ax_loss.grid(alpha=0.3)
    for key, label in (("t2i_R@1", "text→image R@1"), ("i2t_R@1", "image→text R@1"),
                       ("t2i_R@5", "text→image R@5")):
        pts = [(r["step"], r[key]) for r in val if key in r]
        if pts:
            ax_val.plot(*zip(*pts, strict=True), marker="o", ms=3, label=label)
    ax_val.set(xlabel="step", ylabel="recall", title="validation", ylim=(0, 1))
    ax_val.grid(alpha=0.3)
    if val:
        ax_val.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return png_path


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
