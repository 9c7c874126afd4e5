"""``check`` for a Qdrant collection: metadata, companion, every point's id, payload and vector.

Checked: the collection holds jointspace metadata (model, dim) and its companion collection; every
point's id is the hash of its key (so re-runs stay idempotent); payload fields are present; every
vector has the collection's dim, finite values and unit norm. Nothing is repaired here: the server
keeps its own indexes consistent; a wrong point is fixed by re-indexing its source.
"""

from __future__ import annotations

import numpy as np

from jointspace.errors import JointspaceError
from jointspace.store.check import ERROR, WARNING, CheckReport
from jointspace.store.qdrant.companion import point_id
from jointspace.store.registry import StoreOptions, open_store

REQUIRED = ("key", "source", "kind", "fields")
REINDEX = "re-index the source into the collection (`jointspace index SOURCE -c LOCATION`)"
_SHOWN = 5


def check_qdrant(location: str, options: StoreOptions) -> CheckReport:
    store = open_store(location, readonly=True, options=options)
    report = CheckReport(store.location, model=store.model, dim=store.dim)
    try:
        if not store.client.collection_exists(store.companion.name):
            report.add(ERROR, "companion-missing", f"{store.companion.name} is missing: seq, "
                       "derived state and error records are lost", REINDEX)
        info = store.info()
        report.counts = {"items": info["count"], "images": info["kinds"].get("image", 0),
                         "texts": info["kinds"].get("text", 0), "seq": info["seq"],
                         "errors": info["errors"]}
        report.index = {"kind": f"qdrant-{store.index_kind}", "snapshot": None,
                        "snapshot_seq": None, "seq": info["seq"], "ntotal": info["count"]}
        _check_points(store, report)
    except JointspaceError as exc:
        report.add(ERROR, "unreadable", exc.message, exc.hint)
    finally:
        store.close()
    return report


def _check_points(store, report: CheckReport) -> None:
    bad_id, bad_payload, bad_vec = [], [], []
    for page in store.scan_items(batch=1024):
        bad_id += [i for i, it in zip(page.ids, page.items) if point_id(it.key) != i]
        vecs = np.stack([it.vector for it in page.items])
        norms = np.linalg.norm(vecs, axis=1)
        ok = np.isfinite(vecs).all(axis=1) & (np.abs(norms - 1) < 1e-3)
        bad_vec += [i for i, good in zip(page.ids, ok) if not good]
        found = store.payloads(page.ids)
        bad_payload += [i for i, p in found.items() if any(k not in p for k in REQUIRED)]
    if bad_id:
        report.add(ERROR, "id-mismatch", f"{len(bad_id)} point(s) whose id is not their key's "
                   f"hash, e.g. {bad_id[:_SHOWN]}: a re-run would duplicate them", REINDEX)
    if bad_payload:
        report.add(ERROR, "payload-incomplete", f"{len(bad_payload)} point(s) without "
                   f"{'/'.join(REQUIRED)}, e.g. {bad_payload[:_SHOWN]}", REINDEX)
    if bad_vec:
        report.add(WARNING, "vector-not-unit", f"{len(bad_vec)} vector(s) not finite or not unit "
                   f"norm, e.g. {bad_vec[:_SHOWN]}: their scores are not cosines", REINDEX)
