"""The engine protocol and the one embed step every engine runs (in process or in a worker)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from jointspace.ingest.items import IMAGE, SourceItem
from jointspace.ingest.pipeline import Prepared

if TYPE_CHECKING:
    from jointspace.models.base import Embedder
    from jointspace.query.indexing import SyncOptions


@dataclass
class Embedded:
    """One prepared item and its vector; ``vector`` is None for an error, or for content whose
    sha256 equals the stored one (nothing to embed)."""

    prepared: Prepared
    vector: np.ndarray | None = None
    upserted: bool = False  # a worker sink stored the vector; it did not travel back


@dataclass
class EmbeddedBatch:
    """What an engine yields per batch, in source order."""

    items: list[Embedded] = field(default_factory=list)
    truncated: int = 0  # texts over the model's token limit (embedded from their beginning)


class Engine(Protocol):
    """Reads, decodes and embeds ``items`` batch by batch; the caller writes each batch."""

    def embed(self, embedder: Embedder, items: list[SourceItem], known_sha: Mapping[str, str],
              opts: SyncOptions) -> Iterator[EmbeddedBatch]: ...


def embed_prepared(embedder: Embedder, prepared: list[Prepared],
                   known_sha: Mapping[str, str]) -> EmbeddedBatch:
    """Embed what needs it: no error, and content (sha256) different from ``known_sha[key]``."""
    out = EmbeddedBatch([Embedded(p) for p in prepared])
    todo = [e for e in out.items
            if e.prepared.error is None and known_sha.get(e.prepared.item.key) != e.prepared.sha256]
    images = [e for e in todo if e.prepared.item.kind == IMAGE]
    texts = [e for e in todo if e.prepared.item.kind != IMAGE]
    if images:
        vectors = embedder.embed_preprocessed(np.stack([e.prepared.array for e in images]))
        for e, v in zip(images, vectors):
            e.vector = v
    if texts:
        strings = [e.prepared.text or "" for e in texts]
        for e, v in zip(texts, embedder.embed_texts(strings)):
            e.vector = v
        out.truncated = count_truncated(embedder, strings)
    return out


def count_truncated(embedder: Embedder, texts: list[str]) -> int:
    """How many ``texts`` are longer than the model's token limit (its tokenizer cuts them)."""
    limit = embedder.max_text_tokens
    counts = embedder.token_counts(texts) if limit and texts else None
    return sum(n > limit for n in counts) if counts else 0
