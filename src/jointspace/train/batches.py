"""What goes into step s: a pure function of (seed, step), never of process count or history.

That is what makes training deterministic with ``--seed``, resumable mid-epoch, and equal under
torchrun: every process derives the same global batch and takes its own slice.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch


@lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_images(step: int, n_images: int, batch_size: int, seed: int) -> np.ndarray:
    """Image indices of the global batch at ``step`` (epochs reshuffle; the ragged tail is dropped)."""
    per_epoch = n_images // batch_size
    epoch, within = divmod(step, per_epoch)
    return _permutation(n_images, seed, epoch)[within * batch_size : (within + 1) * batch_size]


def batch_captions(step: int, images: np.ndarray, start: np.ndarray, seed: int,
                   stream: int = 1) -> np.ndarray:
    """One caption index per image, drawn uniformly among that image's captions (``stream``:
    which random stream of the step draws them; the extra texts use their own)."""
    counts = start[images + 1] - start[images]
    pick = np.random.default_rng([seed, step, stream]).integers(0, 1 << 30, size=len(images))
    return start[images] + pick % counts


def shift_offsets(step: int, n: int, max_shift: int, seed: int) -> np.ndarray:
    """(n, 2) integer (dy, dx) translations in [-max_shift, max_shift] for the global batch."""
    return np.random.default_rng([seed, step, 2]).integers(-max_shift, max_shift + 1, size=(n, 2))


def shift_images(x: torch.Tensor, offsets: np.ndarray) -> torch.Tensor:
    """Translate each image of (n, c, h, w) by its (dy, dx), repeating the edge pixels."""
    return shift_nhwc(x.permute(0, 2, 3, 1), offsets).permute(0, 3, 1, 2).contiguous()


def shift_nhwc(x: torch.Tensor, offsets: np.ndarray,
               images: np.ndarray | None = None) -> torch.Tensor:
    """:func:`shift_images` for channels-last (n, h, w, c) tensors of any dtype (e.g. uint8);
    ``images``: shift these rows of ``x`` (one gather for both, not a batch copy first)."""
    _, h, w, c = x.shape
    off = torch.from_numpy(offsets)
    n = len(off)
    rows = (torch.arange(h)[None, :] - off[:, :1]).clamp(0, h - 1)  # (n, h)
    cols = (torch.arange(w)[None, :] - off[:, 1:]).clamp(0, w - 1)  # (n, w)
    first = torch.arange(n) if images is None else torch.from_numpy(np.asarray(images))
    # one flat index_select of whole pixels: ~5x faster than 3-tensor advanced indexing
    pixel = (first[:, None, None] * h + rows[:, :, None]) * w + cols[:, None, :]  # (n, h, w)
    return x.reshape(-1, c).index_select(0, pixel.flatten()).view(n, h, w, c)


def same_caption_mask(caption_ids: np.ndarray, others: np.ndarray | None = None) -> torch.Tensor:
    """(n, n) bool: pairs whose captions are the same text (extra positives); (n, m) against
    ``others`` (the batch's ids followed by the extra texts' ids) when given."""
    ids = torch.from_numpy(np.asarray(caption_ids))
    cols = ids if others is None else torch.from_numpy(np.asarray(others))
    return ids[:, None] == cols[None, :]


def extra_images(step: int, n_images: int, size: int, seed: int) -> np.ndarray:
    """``size`` training images (uniform, with replacement) whose captions join step ``step``
    as extra image->text candidates (--extra-texts)."""
    return np.random.default_rng([seed, step, 4]).integers(0, n_images, size=size)


def group_members(groups: np.ndarray) -> list[np.ndarray]:
    """Image indices of each group id 0..max (``groups``: one non-negative int per image)."""
    groups = np.asarray(groups, np.int64)
    order = np.argsort(groups, kind="stable")
    bounds = np.searchsorted(groups[order], np.arange(groups.max() + 2))
    return [order[bounds[g] : bounds[g + 1]] for g in range(groups.max() + 1)]


def hard_batch(step: int, images: np.ndarray, members: list[np.ndarray], fraction: float,
               seed: int) -> np.ndarray:
    """``images`` with its last ``fraction`` replaced by images of one group drawn for ``step``.

    Images of a group share something (e.g. a colour), so the batch pits them against each other:
    hard negatives for the contrastive loss. Still a pure function of (seed, step); the head keeps
    its order and nothing repeats.
    """
    n_hard = min(round(fraction * len(images)), len(images))
    groups = [g for g in range(len(members)) if len(members[g])]
    if n_hard == 0 or not groups:
        return images
    rng = np.random.default_rng([seed, step, 3])
    g = groups[int(rng.integers(len(groups)))]
    head = images[: len(images) - n_hard]
    pool = np.setdiff1d(members[g], head, assume_unique=True)
    take = rng.permutation(pool)[:n_hard]
    if len(take) < n_hard:  # a small group: fill up from the regular tail
        rest = np.setdiff1d(images[len(head):], take, assume_unique=True)
        take = np.concatenate([take, rest[: n_hard - len(take)]])
    return np.concatenate([head, take])
