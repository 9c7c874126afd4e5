"""Data for benchmarks/quality.py: world splits and SciFact embedded once, cached as .npz.

Cached under ``--cache`` (default ``~/.cache/jointspace/quality``), keyed by world folder, split,
image count and model, so a second run of the benchmark only re-scores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class WorldSplit:
    rows: list[dict]
    img: np.ndarray  # (n_images, d)
    txt: np.ndarray  # (n_captions, d)
    text_image: np.ndarray  # (n_captions,) image row of each caption
    captions: list[str]


def world_split(world: Path, split: str, embedder, cache: Path, n_images: int | None = None,
                captions_per_image: int | None = None) -> WorldSplit:
    from jointspace.evaluate.images import embed_image_files
    from jointspace.worlds.evaluate import read_rows

    rows = read_rows(world, split)[:n_images]
    caps = [r["captions"][:captions_per_image] for r in rows]
    captions = [c for cs in caps for c in cs]
    text_image = np.repeat(np.arange(len(rows)), [len(cs) for cs in caps])
    key = hashlib.sha256(f"{world.resolve()}|{split}|{len(rows)}|{captions_per_image}|"
                         f"{embedder.name}".encode()).hexdigest()[:16]
    path = cache / f"world-{key}.npz"
    if path.is_file():
        z = np.load(path)
        return WorldSplit(rows, z["img"], z["txt"], text_image, captions)
    img, ok, errors = embed_image_files(embedder, [r["file"] for r in rows])
    if errors:
        raise RuntimeError(f"{len(errors)} world images failed to decode: {errors[0]}")
    txt = embedder.embed_texts(captions)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, img=img, txt=txt)
    return WorldSplit(rows, img, txt, text_image, captions)


def sample(n: int, limit: int, seed: int = 0) -> np.ndarray:
    return np.arange(n) if n <= limit else np.sort(
        np.random.default_rng(seed).choice(n, limit, replace=False))
