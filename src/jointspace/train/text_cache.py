"""Locked text tower: embed each distinct caption once, then train only the head on top.

Captions repeat a lot (templates, several images per phrase), so the frozen part of the text side
is computed once per distinct caption, shortest first (little padding), and stored on disk keyed
by the model and the caption set.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch


def caption_ids(captions: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct captions (first-seen order) and each caption's index into them."""
    index: dict[str, int] = {}
    ids = np.fromiter((index.setdefault(c, len(index)) for c in captions), np.int64,
                      count=len(captions))
    return list(index), ids


def frozen_text_vectors(
    unique: list[str],
    embed: Callable[[list[str]], torch.Tensor],
    *,
    model_key: str,
    cache_dir: str | os.PathLike | None,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """(len(unique), width) float32 vectors of ``embed`` (no grad), from disk when cached."""
    h = hashlib.sha256(model_key.encode())
    for c in unique:
        h.update(c.encode() + b"\0")
    path = Path(cache_dir) / f"text-{h.hexdigest()[:16]}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return torch.from_numpy(np.load(path))
    order = sorted(range(len(unique)), key=lambda i: (len(unique[i]), i))
    out: np.ndarray | None = None
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        with torch.inference_mode():
            vecs = embed([unique[i] for i in idx]).float().numpy()
        if out is None:
            out = np.empty((len(unique), vecs.shape[1]), np.float32)
        out[idx] = vecs
        if progress:
            progress(min(s + batch_size, len(order)), len(order))
    assert out is not None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")  # ranks sharing a cache write at once
        np.save(tmp, out)
        os.replace(tmp, path)
    return torch.from_numpy(out)
