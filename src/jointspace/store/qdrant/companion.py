"""The companion collection ``NAME__jointspace``: what a Qdrant collection of items cannot hold.

Vector-less points with deterministic ids: one meta point (``seq``, the BM25 average length),
one per derived-state blob (``read_state``/``write_state``), one per file error record. Qdrant has
no multi-point transactions, so ``seq`` is bumped *before* a batch's points are written: a reader
that sees the new seq may see part of the batch, never a batch without a new seq, so caches keyed
on seq are never wrongly kept.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from jointspace.store.base import StateBlob

SUFFIX = "__jointspace"
META_ID = 0


def point_id(key: str) -> int:
    """The deterministic point id of ``key``: 53 bits of its hash (exact in JSON and JavaScript)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return (int.from_bytes(digest, "big") >> 11) or 1  # 0 is never an item id


class Companion:
    """Meta, state and error records of one jointspace collection, in its companion collection."""

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name + SUFFIX

    def create(self, replicas: int | None = None) -> None:
        """Create it (one shard: it is small; replicated like the items so it survives a node)."""
        if not self.client.collection_exists(self.name):
            extra = {"replication_factor": replicas} if replicas else {}
            self.client.create_collection(self.name, vectors_config={}, **extra)
            self._put(META_ID, {"type": "meta", "seq": 0, "avglen": None})

    def meta(self) -> dict[str, Any]:
        found = self.client.retrieve(self.name, [META_ID], with_payload=True)
        return found[0].payload if found else {"type": "meta", "seq": 0, "avglen": None}

    def seq(self) -> int:
        return int(self.meta().get("seq", 0))

    def set_meta(self, **values: Any) -> None:
        self.client.set_payload(self.name, payload=values, points=[META_ID], wait=True)

    def bump_seq(self) -> int:
        """seq + 1, stored before the batch it numbers is written (the writer is alone)."""
        seq = self.seq() + 1
        self.set_meta(seq=seq)
        return seq

    # --- derived state ----------------------------------------------------------------------
    def read_state(self, name: str) -> StateBlob | None:
        found = self.client.retrieve(self.name, [point_id("state:" + name)], with_payload=True)
        if not found:
            return None
        p = found[0].payload
        return StateBlob(base64.b64decode(p["data"]), int(p["seq"]))

    def write_state(self, name: str, data: bytes, seq: int) -> None:
        self._put(point_id("state:" + name), {"type": "state", "name": name, "seq": seq,
                                              "data": base64.b64encode(data).decode()})

    # --- error records ----------------------------------------------------------------------
    def put_errors(self, errors: list[tuple[str, str, str, str]]) -> None:
        from qdrant_client import models

        if errors:
            self.client.upsert(self.name, wait=True, points=[
                models.PointStruct(id=point_id("error:" + key), vector={},
                                   payload={"type": "error", "key": key, "source": source,
                                            "path": path, "reason": why})
                for key, source, path, why in errors])

    def clear_errors(self, keys: list[str]) -> None:
        from qdrant_client import models

        if keys:
            ids = [point_id("error:" + k) for k in keys]
            self.client.delete(self.name, wait=True,
                               points_selector=models.PointIdsList(points=ids))

    def errors(self) -> list[tuple[str, str]]:
        rows = [(p.payload["path"], p.payload["reason"]) for p in self._scroll("error")]
        return sorted(rows)

    def _scroll(self, kind: str) -> list[Any]:
        from qdrant_client import models

        flt = models.Filter(must=[models.FieldCondition(key="type",
                                                        match=models.MatchValue(value=kind))])
        out, offset = [], None
        while True:
            points, offset = self.client.scroll(self.name, scroll_filter=flt, limit=1024,
                                                offset=offset, with_payload=True)
            out += points
            if offset is None:
                return out

    def _put(self, pid: int, payload: dict[str, Any]) -> None:
        from qdrant_client import models

        self.client.upsert(self.name, wait=True,
                           points=[models.PointStruct(id=pid, vector={}, payload=payload)])
