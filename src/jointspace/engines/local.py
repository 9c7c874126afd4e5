"""The default engine: decode in fenced worker processes, embed in this process."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from jointspace.engines.base import EmbeddedBatch, embed_prepared
from jointspace.ingest.items import IMAGE, SourceItem
from jointspace.ingest.pipeline import PrepareOptions, prepare_batches
from jointspace.iters import batched

if TYPE_CHECKING:
    from jointspace.models.base import Embedder
    from jointspace.query.indexing import SyncOptions


class LocalEngine:
    """``opts.workers`` decode processes (None: one per spare core, 0: inline) ahead of the
    model."""

    def embed(self, embedder: Embedder, items: list[SourceItem], known_sha: Mapping[str, str],
              opts: SyncOptions) -> Iterator[EmbeddedBatch]:
        prep = prepare_options(embedder, items, opts)
        workers = _default_workers() if opts.workers is None else opts.workers
        if prep.preprocessor is None or not items:
            workers = 0  # texts: nothing to decode
        elif len(items) <= opts.batch_size:
            workers = min(workers, 1)  # a few files: one fenced worker still contains a hostile one
        for prepared in prepare_batches(batched(items, opts.batch_size), prep, workers=workers):
            yield embed_prepared(embedder, prepared, known_sha)


def prepare_options(embedder: Embedder, items: list[SourceItem],
                    opts: SyncOptions) -> PrepareOptions:
    """The decode settings for ``items``: the model's preprocessor only if there are images."""
    return PrepareOptions(
        preprocessor=embedder.image_preprocessor() if any(i.kind == IMAGE for i in items)
        else None,
        max_pixels=opts.max_pixels, fast_decode=opts.fast_decode,
    )


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)
