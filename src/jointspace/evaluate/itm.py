"""Image-text retrieval metrics with several captions per image: pure numpy.

``sim`` is the (n_images, n_texts) cosine matrix; ``text_image[t]`` is the image of caption ``t``.
The standard multi-caption protocol (COCO / Flickr30k, as in CLIP and open_clip):

- image -> text: an image query is a hit at K when *any* of its captions ranks in the top K;
- text -> image: each caption query has exactly one correct image.

A rank counts every candidate scoring at least as high as the correct one (ties go against the
model, so a constant scorer gets recall K / n, not 1.0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_KS: tuple[int, ...] = (1, 5, 10)


def text_to_image_ranks(sim: np.ndarray, text_image: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """0-based rank of each caption's image among all images (shape (n_texts,))."""
    text_image = np.asarray(text_image)
    out = np.empty(len(text_image), dtype=np.int64)
    for s in range(0, len(text_image), chunk):
        block = np.asarray(sim[:, s : s + chunk], dtype=np.float32)  # (n_images, c)
        cols = np.arange(block.shape[1])
        true = block[text_image[s : s + chunk], cols]
        out[s : s + chunk] = (block >= true[None, :]).sum(axis=0) - 1
    return out


def image_to_text_ranks(sim: np.ndarray, text_image: np.ndarray, chunk: int = 512) -> np.ndarray:
    """0-based rank of each image's best-ranked caption among all texts (shape (n_images,)).

    The rank counts captions of *other* images scoring at least as high as the image's best
    caption. An image without captions gets rank ``n_texts`` (never a hit).
    """
    text_image = np.asarray(text_image)
    n_images, n_texts = sim.shape
    out = np.empty(n_images, dtype=np.int64)
    for s in range(0, n_images, chunk):
        block = np.asarray(sim[s : s + chunk], dtype=np.float32)  # (c, n_texts)
        own = text_image[None, :] == np.arange(s, s + block.shape[0])[:, None]
        best_own = np.where(own, block, -np.inf).max(axis=1)
        ranks = ((block >= best_own[:, None]) & ~own).sum(axis=1)
        out[s : s + chunk] = np.where(np.isfinite(best_own), ranks, n_texts)
    return out


def recall_at(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[int, float]:
    """Fraction of queries with rank < K, for each K."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return {k: 0.0 for k in ks}
    return {k: float(np.mean(ranks < k)) for k in ks}


def recall_curve(ranks: np.ndarray, max_k: int) -> np.ndarray:
    """Recall@K for K = 1..max_k (for plots)."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        return np.zeros(max_k)
    counts = np.bincount(np.minimum(ranks, max_k), minlength=max_k + 1)[:max_k]
    return np.cumsum(counts) / ranks.size


def retrieval_metrics(
    sim: np.ndarray, text_image: np.ndarray, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, float]:
    """``i2t_R@K``, ``t2i_R@K``, their mean ``rsum``-style average, and median ranks (1-based)."""
    i2t = image_to_text_ranks(sim, text_image)
    t2i = text_to_image_ranks(sim, text_image)
    out: dict[str, float] = {}
    for k, v in recall_at(i2t, ks).items():
        out[f"i2t_R@{k}"] = v
    for k, v in recall_at(t2i, ks).items():
        out[f"t2i_R@{k}"] = v
    out["mean_recall"] = float(np.mean([out[f"i2t_R@{k}"] for k in ks] +
                                       [out[f"t2i_R@{k}"] for k in ks]))
    out["i2t_median_rank"] = float(np.median(i2t) + 1) if i2t.size else 0.0
    out["t2i_median_rank"] = float(np.median(t2i) + 1) if t2i.size else 0.0
    return out
