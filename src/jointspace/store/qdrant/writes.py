"""Applying one WriteBatch to a Qdrant collection, in the order the SQLite truth applies it:
upserts, touches, deletes, error records, annotations, cleared errors."""

from __future__ import annotations

from typing import Any

import numpy as np

from jointspace.errors import CorruptCollectionError
from jointspace.store.base import NewItem, WriteBatch, keyword_text, merged_metadata
from jointspace.store.qdrant import sparse
from jointspace.store.qdrant.companion import point_id

DENSE, SPARSE = "dense", "bm25"
_CHUNK = 256


def apply_batch(store: Any, batch: WriteBatch, seq: int) -> None:
    """Write ``batch`` (numbered ``seq``) into ``store`` (a QdrantStore whose writer we hold)."""
    from qdrant_client import models

    avglen = _avglen(store, batch)
    if batch.upserts and not batch.upserted:  # upserted: a worker sink already wrote them
        upsert_items(store.client, store.name, batch.upserts, seq, avglen)
    if batch.touches:
        _touch(store, batch.touches, avglen)
    if batch.deletes:
        store.client.delete(store.name, wait=True, points_selector=models.PointIdsList(
            points=[int(i) for i in batch.deletes]))
    store.companion.put_errors(batch.errors)
    if batch.annotations:
        _annotate(store, batch.annotations, avglen)
    store.companion.clear_errors(batch.clear_errors)


def upsert_items(client: Any, name: str, items: list[NewItem], seq: int, avglen: float) -> None:
    """Upsert ``items`` as points (deterministic ids, BM25 weights for ``avglen``), keeping the
    annotations their points already carry; the one upsert path of the driver and worker sinks."""
    from qdrant_client import models

    old = read_payloads(client, name, [point_id(it.key) for it in items])
    payloads = [_payload(it, old.get(point_id(it.key)), seq) for it in items]
    terms = sparse.document_vectors([keyword_text(p["text"], p["fields"]) for p in payloads],
                                    avglen)
    points = [models.PointStruct(id=point_id(it.key), payload=p, vector=_vectors(it.vector, t))
              for it, p, t in zip(items, payloads, terms)]
    for i in range(0, len(points), _CHUNK):
        client.upsert(name, points=points[i : i + _CHUNK], wait=True)


def read_payloads(client: Any, name: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    """The payloads of the points among ``ids`` that exist, by id."""
    if not ids:
        return {}
    return {int(p.id): p.payload for p in
            client.retrieve(name, ids, with_payload=True, with_vectors=False)}


def batch_avglen(items: list[NewItem]) -> float:
    """The BM25 average document length that ``items``' texts would fix (0: no terms)."""
    return sparse.average_length([keyword_text(it.text, it.metadata) for it in items])


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch (as SQLite's json_patch): None removes, dicts merge."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            base = out.get(key)
            out[key] = merge_patch(base if isinstance(base, dict) else {}, value)
        else:
            out[key] = value
    return out


def _payload(it: NewItem, old: dict[str, Any] | None, seq: int) -> dict[str, Any]:
    if old is not None and old.get("key") != it.key:
        raise CorruptCollectionError(
            f"point id collision: {it.key!r} and {old.get('key')!r} hash to the same id",
            hint="rename one of the two files (a 1-in-2^53 event; please report it)")
    notes = (old or {}).get("annotations") or {}
    return {"key": it.key, "source": it.source, "kind": it.kind, "path": it.path,
            "text": it.text, "metadata": it.metadata, "annotations": notes,
            "fields": merged_metadata(it.metadata, notes), "size": it.size,
            "mtime_ns": it.mtime_ns, "sha256": it.sha256, "seq": seq}


def _vectors(vector: np.ndarray, terms: tuple[list[int], list[float]]) -> dict[str, Any]:
    from qdrant_client import models

    out: dict[str, Any] = {DENSE: np.asarray(vector, np.float32).tolist()}
    if terms[0]:
        out[SPARSE] = models.SparseVector(indices=terms[0], values=terms[1])
    return out


def _touch(store: Any, touches: list[tuple], avglen: float) -> None:
    ids = [point_id(t[0]) for t in touches]
    old = store.payloads(ids)
    changed: dict[int, dict[str, Any]] = {}
    for (key, size, mtime_ns, metadata, text), pid in zip(touches, ids):
        p = old.get(pid)
        if p is None or p.get("key") != key:
            continue  # as UPDATE ... WHERE key=?: nothing to touch
        update: dict[str, Any] = {"size": size, "mtime_ns": mtime_ns}
        if metadata is not None:
            update["metadata"] = metadata
            update["fields"] = merged_metadata(metadata, p.get("annotations") or {})
        if text is not None:
            update["text"] = text
        store.client.set_payload(store.name, payload=update, points=[pid], wait=True)
        if metadata is not None or text is not None:
            changed[pid] = p | update
    _reweigh(store, changed, avglen)


def _annotate(store: Any, patches: list[tuple[int, dict[str, Any]]], avglen: float) -> None:
    old = store.payloads([int(i) for i, _ in patches])
    changed: dict[int, dict[str, Any]] = {}
    for item_id, patch in patches:
        p = changed.get(int(item_id)) or old.get(int(item_id))
        if p is None:
            continue
        notes = merge_patch(p.get("annotations") or {}, patch)
        update = {"annotations": notes, "fields": merged_metadata(p.get("metadata") or {}, notes)}
        store.client.set_payload(store.name, payload=update, points=[int(item_id)], wait=True)
        changed[int(item_id)] = p | update
    _reweigh(store, changed, avglen)


def _reweigh(store: Any, payloads: dict[int, dict[str, Any]], avglen: float) -> None:
    """Recompute the BM25 vectors of items whose text or string metadata changed."""
    from qdrant_client import models

    if not payloads:
        return
    ids = list(payloads)
    terms = sparse.document_vectors(
        [keyword_text(payloads[i].get("text"), payloads[i].get("fields")) for i in ids], avglen)
    with_terms = [models.PointVectors(id=i, vector={SPARSE: models.SparseVector(
        indices=t[0], values=t[1])}) for i, t in zip(ids, terms) if t[0]]
    without = [i for i, t in zip(ids, terms) if not t[0]]
    if with_terms:
        store.client.update_vectors(store.name, points=with_terms, wait=True)
    if without:
        store.client.delete_vectors(store.name, vectors=[SPARSE], wait=True,
                                    points=models.PointIdsList(points=without))


def _avglen(store: Any, batch: WriteBatch) -> float:
    """The BM25 average document length, fixed from the first texts ever written."""
    meta = store.companion.meta()
    if meta.get("avglen"):
        return float(meta["avglen"])
    avglen = batch_avglen(batch.upserts)
    if avglen > 0:
        store.companion.set_meta(avglen=avglen)
    return avglen or 1.0
