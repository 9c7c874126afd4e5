"""``qdrant+edge:PATH[#NAME]``: Qdrant's embedded engine (qdrant-edge-py) behind the client calls
``QdrantStore`` makes, so the same backend code runs on it.

Each Qdrant collection is an ``EdgeShard`` in ``PATH/<collection>/`` (real segments, WAL, HNSW and
sparse indexes, persisted), its collection metadata in ``PATH/<collection>.json``. Requests arrive
as qdrant-client models and are converted to qdrant-edge's (same shapes, other classes). One
process at a time: opening takes an exclusive lock on ``PATH/.lock``, as local mode does.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jointspace.errors import CollectionLockedError, FilterSyntaxError

_NO_VECTORS = "_none"  # an edge shard needs a vector config; vector-less collections get this


class EdgeClient:
    """The subset of ``QdrantClient`` the jointspace backend uses, over qdrant-edge shards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise CollectionLockedError(f"{root} is open in another process (qdrant+edge allows "
                                        "one)", hint="close the other process, or use a server") from None
        self._shards: dict[str, Any] = {}

    # --- collections ------------------------------------------------------------------------
    def collection_exists(self, name: str) -> bool:
        return (self.root / f"{name}.json").is_file()

    def create_collection(self, name: str, vectors_config: dict, sparse_vectors_config=None,
                          metadata: dict | None = None, **_: Any) -> None:
        import qdrant_edge as e

        dense = {k: e.EdgeVectorParams(size=v.size, distance=e.Distance.Dot)
                 for k, v in vectors_config.items()}
        sparse = {k: e.EdgeSparseVectorParams(modifier=e.Modifier.Idf if v.modifier else None)
                  for k, v in (sparse_vectors_config or {}).items()}
        if not dense and not sparse:
            sparse = {_NO_VECTORS: e.EdgeSparseVectorParams()}
        self._shards[name] = e.EdgeShard.create(str(self.root / name), e.EdgeConfig(
            vectors=dense or None, sparse_vectors=sparse or None))
        tmp = self.root / f"{name}.json.tmp"
        tmp.write_text(json.dumps({"metadata": metadata or {}}))
        os.replace(tmp, self.root / f"{name}.json")

    def get_collection(self, name: str) -> Any:
        meta = json.loads((self.root / f"{name}.json").read_text())["metadata"]
        params = SimpleNamespace(shard_number=None, replication_factor=None)
        return SimpleNamespace(config=SimpleNamespace(metadata=meta, params=params))

    def create_payload_index(self, *_: Any, **__: Any) -> None:
        """Not needed: the store only creates payload indexes on servers."""

    # --- points -----------------------------------------------------------------------------
    def retrieve(self, name: str, ids: list, with_payload: Any = True,
                 with_vectors: Any = False) -> list:
        return self._shard(name).retrieve(list(ids), with_payload, with_vectors)

    def upsert(self, name: str, points: list, wait: bool = True) -> None:
        import qdrant_edge as e

        self._update(name, e.UpdateOperation.upsert_points(
            [e.Point(p.id, _vectors(p.vector), p.payload) for p in points]))

    def set_payload(self, name: str, payload: dict, points: list, wait: bool = True) -> None:
        import qdrant_edge as e

        self._update(name, e.UpdateOperation.set_payload(list(points), payload))

    def update_vectors(self, name: str, points: list, wait: bool = True) -> None:
        import qdrant_edge as e

        self._update(name, e.UpdateOperation.update_vectors(
            [e.PointVectors(p.id, _vectors(p.vector)) for p in points]))

    def delete_vectors(self, name: str, vectors: list, points: Any, wait: bool = True) -> None:
        import qdrant_edge as e

        self._update(name, e.UpdateOperation.delete_vectors(list(points.points), list(vectors)))

    def delete(self, name: str, points_selector: Any, wait: bool = True) -> None:
        import qdrant_edge as e

        self._update(name, e.UpdateOperation.delete_points(list(points_selector.points)))

    # --- reads ------------------------------------------------------------------------------
    def scroll(self, name: str, scroll_filter: Any = None, limit: int = 10, offset: Any = None,
               with_payload: Any = True, with_vectors: Any = False) -> tuple[list, Any]:
        import qdrant_edge as e

        return self._shard(name).scroll(e.ScrollRequest(
            offset=offset, limit=limit, filter=_filter(scroll_filter), with_payload=with_payload,
            with_vector=with_vectors))

    def query_points(self, name: str, query: Any, using: str, limit: int,
                     query_filter: Any = None, search_params: Any = None,
                     with_payload: Any = False) -> Any:
        import qdrant_edge as e

        exact = e.SearchParams(exact=True) if getattr(search_params, "exact", False) else None
        points = self._shard(name).query(e.QueryRequest(
            limit=limit, query=e.Query.Nearest(_vector(query), using=using),
            filter=_filter(query_filter), with_payload=with_payload, params=exact))
        return SimpleNamespace(points=points)

    def count(self, name: str, count_filter: Any = None, exact: bool = True) -> Any:
        import qdrant_edge as e

        return SimpleNamespace(count=self._shard(name).count(
            e.CountRequest(exact=exact, filter=_filter(count_filter))))

    def close(self) -> None:
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._shards.clear()
        if self._lock is not None:
            os.close(self._lock)  # drops the flock
            self._lock = None

    def _shard(self, name: str) -> Any:
        if name not in self._shards:
            import qdrant_edge as e

            self._shards[name] = e.EdgeShard.load(str(self.root / name))
        return self._shards[name]

    def _update(self, name: str, op: Any) -> None:
        self._shard(name).update(op)


def _vector(v: Any) -> Any:
    import qdrant_edge as e

    if hasattr(v, "indices"):
        return e.SparseVector(list(v.indices), list(v.values))
    return list(v)


def _vectors(vector: dict) -> dict:
    return {k: _vector(v) for k, v in (vector or {}).items()}


def _filter(f: Any) -> Any:
    """A qdrant-client Filter (or condition) as qdrant-edge's."""
    import qdrant_edge as e
    from qdrant_client import models as m

    if f is None:
        return None
    if isinstance(f, m.Filter):
        return e.Filter(must=_all(f.must), should=_all(f.should), must_not=_all(f.must_not))
    if isinstance(f, m.IsEmptyCondition):
        return e.IsEmptyCondition(f.is_empty.key)
    if isinstance(f, m.HasIdCondition):
        return e.HasIdCondition(set(f.has_id))
    if isinstance(f, m.FieldCondition):
        match = f.match
        if isinstance(match, m.MatchValue):
            if isinstance(match.value, bool):  # qdrant-edge-py 0.9 matches True as the integer 1
                raise FilterSyntaxError(f"{f.key}: qdrant+edge cannot match true/false yet",
                                        hint="use a qdrant+local or server collection, or store "
                                             "the flag as a string")
            match = e.MatchValue(match.value)
        elif isinstance(match, m.MatchAny):
            match = e.MatchAny(list(match.any))
        rng = f.range
        if rng is not None:
            rng = e.RangeFloat(gte=rng.gte, gt=rng.gt, lte=rng.lte, lt=rng.lt)
        return e.FieldCondition(f.key, match=match, range=rng)
    raise TypeError(f"no qdrant-edge form for {type(f).__name__}")


def _all(conditions: Any) -> list | None:
    return None if conditions is None else [_filter(c) for c in conditions]
