"""Matplotlib figures for reports, returned as PNG bytes (Agg backend, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100)
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def per_class_bars(classes: Sequence[str], values: Sequence[float | None], title: str) -> bytes:
    """Horizontal bars, one per class (None shown as 0), sorted as given."""
    plt, fig, ax = _figure(7, max(2.0, 0.28 * len(classes) + 1))
    vals = [0.0 if v is None else v for v in values]
    y = np.arange(len(classes))
    ax.barh(y, vals, color="#4C78A8")
    ax.set_yticks(y, labels=list(classes), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(title)
    for yi, v in zip(y, vals, strict=True):
        ax.text(min(v + 0.01, 0.93), yi, f"{v:.2f}", va="center", fontsize=7)
    return _png(plt, fig)


def confusion_heatmap(cm: Sequence[Sequence[int]], classes: Sequence[str]) -> bytes:
    """Row-normalised confusion matrix (true class rows, predicted class columns)."""
    m = np.asarray(cm, dtype=np.float64)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    size = min(12.0, max(4.0, 0.45 * n + 2))
    plt, fig, ax = _figure(size, size * 0.85)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(n)
    show = n <= 40
    ax.set_xticks(ticks if show else [], labels=list(classes) if show else [], rotation=90,
                  fontsize=7)
    ax.set_yticks(ticks if show else [], labels=list(classes) if show else [], fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 15:
        for i in range(n):
            for j in range(n):
                if m[i, j]:
                    ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=7,
                            color="white" if norm[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    return _png(plt, fig)


def recall_curves(ks: Sequence[int], curves: Mapping[str, Sequence[float]], title: str,
                  ylabel: str = "recall@K") -> bytes:
    """A metric@K against K, one line per curve."""
    plt, fig, ax = _figure(6, 3.6)
    for name, ys in curves.items():
        ax.plot(list(ks), list(ys), marker="o" if len(ks) <= 12 else None, markersize=3,
                label=name)
    ax.set_xscale("log" if max(ks) / max(min(ks), 1) > 20 else "linear")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("K")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(plt, fig)


def histogram(values: Sequence[float], title: str, bins: int = 20) -> bytes:
    """Distribution of a per-query metric in [0, 1]."""
    plt, fig, ax = _figure(6, 3)
    ax.hist(list(values), bins=bins, range=(0, 1), color="#F58518")
    ax.set_xlabel(title)
    ax.set_ylabel("queries")
    return _png(plt, fig)
