"""``QdrantSink``: the worker-side writer of a Qdrant server collection (``Store.worker_sink``).

A distributed engine's workers call it with the items they embedded: each upserts its points
straight into Qdrant (the ids and payload that ``QdrantStore.write`` would give them, through the
same ``writes.upsert_items``), so vectors never travel through the driver, which then records the
rest of the batch (errors, touches, seq) with ``WriteBatch.upserted``. Re-running is idempotent:
point ids are deterministic. Points carry the seq of the run's first commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jointspace.store.base import NewItem, WriteBatch, check_dims
from jointspace.store.qdrant.companion import Companion
from jointspace.store.qdrant.location import Target, connect, translated
from jointspace.store.qdrant.writes import batch_avglen, upsert_items
from jointspace.store.registry import StoreOptions


@dataclass
class QdrantSink:
    """Picklable; connects once per process on its first call."""

    target: Target
    options: StoreOptions
    dim: int
    seq: int
    _client: Any = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None}  # a client does not cross processes

    def __call__(self, items: list[NewItem]) -> bool:
        """Upsert ``items``; False (nothing written) while the BM25 average length is unfixed
        and these texts would fix it: the driver's write fixes it once, for every worker."""
        check_dims(WriteBatch(upserts=items), self.dim)
        if not items:
            return True
        if self._client is None:
            self._client = connect(self.target, self.options)
        with translated(self.target):
            avglen = Companion(self._client, self.target.name).meta().get("avglen")
            if not avglen and batch_avglen(items) > 0:
                return False
            upsert_items(self._client, self.target.name, items, self.seq, float(avglen or 1.0))
        return True

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
