"""``hash:<dim>`` — a deterministic, fast, NON-SEMANTIC embedder for tests and plumbing benchmarks.

It knows nothing about meaning: near-identical images get near-identical vectors and texts that
share words get similar vectors, but an image of a dog is no closer to the text "dog" than to
"tax law". Use it to exercise ingest, storage, indexing and the service without torch.

- Images: resize to a ``grid x grid`` RGB thumbnail, centre the pixels, append a constant bias
  feature (so no vector is all-zero), multiply by a fixed seeded Gaussian projection.
- Texts: lower-cased word tokens hashed (blake2b, stable across processes, unlike ``hash()``)
  into ``buckets`` counts plus a bias bucket, multiplied by another fixed seeded projection.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from PIL import Image

from jointspace.errors import BadInputError
from jointspace.models.base import IMAGE, TEXT, BaseEmbedder

_TOKEN = re.compile(r"\w+", re.UNICODE)
_MAX_DIM = 8192


class GridPreprocessor:
    """Picklable: PIL image -> float32 vector of the centred ``grid x grid`` RGB thumbnail + bias."""

    def __init__(self, grid: int) -> None:
        self.grid = grid

    def __call__(self, image: Image.Image) -> np.ndarray:
        thumb = image.convert("RGB").resize((self.grid, self.grid), Image.Resampling.BOX)
        pixels = np.asarray(thumb, dtype=np.float32).reshape(-1) / 255.0 - 0.5
        return np.append(pixels, np.float32(1.0))


def _token_bucket(token: str, buckets: int) -> int:
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % buckets


class HashEmbedder(BaseEmbedder):
    """Deterministic random-projection embedder; see the module docstring (not semantic)."""

    modalities = frozenset({IMAGE, TEXT})

    def __init__(self, dim: int, *, grid: int = 16, buckets: int = 4096, seed: int = 0) -> None:
        self.name = f"hash:{dim}"
        self.dim = dim
        self.grid = grid
        self.buckets = buckets
        rng = np.random.default_rng([seed, dim])
        self._image_proj = rng.standard_normal((grid * grid * 3 + 1, dim), dtype=np.float32)
        self._text_proj = rng.standard_normal((buckets + 1, dim), dtype=np.float32)

    def image_preprocessor(self) -> GridPreprocessor:
        return GridPreprocessor(self.grid)

    def _embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        return _rowwise(np.asarray(batch, dtype=np.float32), self._image_proj)

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        counts = np.zeros((len(texts), self.buckets + 1), dtype=np.float32)
        counts[:, self.buckets] = 1.0  # bias bucket: the empty string still gets a unit vector
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                counts[row, _token_bucket(token, self.buckets)] += 1.0
        return _rowwise(counts, self._text_proj)


def _rowwise(rows: np.ndarray, proj: np.ndarray) -> np.ndarray:
    # one product per row: a matrix product's rounding depends on the batch it is computed in,
    # and the same input must give bit-identical vectors whatever batch it arrives in
    return np.stack([row @ proj for row in rows]) if len(rows) else np.zeros((0, proj.shape[1]),
                                                                             np.float32)


def load_hash(spec: str, **options: int) -> HashEmbedder:
    """Registry factory for ``hash:<dim>``; options: ``grid``, ``buckets``, ``seed``."""
    try:
        dim = int(spec)
    except ValueError:
        dim = 0
    if not 1 <= dim <= _MAX_DIM:
        raise BadInputError(
            f"invalid hash model {('hash:' + spec)!r}: the dimension must be 1..{_MAX_DIM}",
            hint="use e.g. hash:64",
        )
    return HashEmbedder(dim, **options)
