"""An on-disk cache of text embeddings, so re-running an evaluation does not re-embed a corpus.

The key is the model name, its max sequence length and a sha256 over the exact texts embedded
(so a dataset change, or a change in how title and text are joined, misses the cache). Entries
are ``<root>/<model slug>/<key>.npy``; a write goes to a temporary file then renames, so a killed
run never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jointspace.models.base import Embedder

ENV_CACHE_DIR = "JOINTSPACE_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$JOINTSPACE_CACHE_DIR/embeddings`` or ``~/.cache/jointspace/embeddings``."""
    base = os.environ.get(ENV_CACHE_DIR) or os.path.join(os.path.expanduser("~"), ".cache",
                                                          "jointspace")
    return Path(base) / "embeddings"


def texts_key(embedder: Embedder, texts: Sequence[str]) -> str:
    """Cache key for embedding ``texts`` with ``embedder``."""
    h = hashlib.sha256()
    h.update(f"{embedder.name}\0{embedder.max_text_tokens}\0".encode())
    runtimes = {k: v for k, v in embedder.runtimes.items() if v != "torch"}
    if runtimes:  # other runtimes make slightly different vectors: cache them apart
        h.update(f"{sorted(runtimes.items())}\0".encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()[:32]


def cached_embed_texts(
    embedder: Embedder, texts: Sequence[str], cache_dir: str | Path | None = None
) -> tuple[np.ndarray, bool]:
    """Embed ``texts`` (or load them from the cache); returns ``(vectors, was_cached)``.

    ``cache_dir=None`` uses :func:`default_cache_dir`; pass ``False``-y ``""`` to disable.
    """
    if cache_dir == "":
        return embedder.embed_texts(list(texts)), False
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", embedder.name).strip("_")[:80] or "model"
    path = root / slug / f"{texts_key(embedder, texts)}.npy"
    if path.is_file():
        vecs = np.load(path)
        if vecs.shape == (len(texts), embedder.dim):
            return vecs, True
    vecs = embedder.embed_texts(list(texts))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, vecs)
    os.replace(tmp, path)
    return vecs, False
