"""``copy SRC DST``: every item, its vector, metadata, annotations and fingerprints, no re-embedding.

Resumable: items already at the destination with the same content (sha256, metadata, text) are
skipped, so an interrupted copy re-run picks up where it stopped. Verified at the end: the
destination holds the source's count, and a random sample of vectors (looked up by key) is equal.
Error records and derived state are not copied (they describe the source files and are recomputed).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jointspace.errors import BadInputError, CollectionError
from jointspace.store.base import ItemPage, Store, WriteBatch, canonical_json
from jointspace.store.registry import LOCAL, StoreOptions, create_store, open_store, scheme_of

ProgressFn = Callable[[int, int], None]


@dataclass
class CopyReport:
    source: str
    destination: str
    copied: int = 0
    skipped: int = 0  # already there, unchanged (a resumed copy)
    verified: int = 0  # sampled vectors found equal
    count: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "destination": self.destination, "copied": self.copied,
                "skipped": self.skipped, "verified": self.verified, "count": self.count,
                "seconds": round(self.seconds, 3), "notes": self.notes}


def copy_collection(src: str, dst: str, *, src_options: StoreOptions | None = None,
                    dst_options: StoreOptions | None = None, batch: int = 1024,
                    sample: int = 64, seed: int = 0, lock_timeout: float = 0.0,
                    progress: ProgressFn | None = None) -> CopyReport:
    """Copy the collection at ``src`` into ``dst`` (created with the same model if missing)."""
    if _same_location(src, dst):  # scanning pages while upserting into them
        raise BadInputError(f"{src} and {dst} are the same collection",
                            hint="copy into another directory or Qdrant collection")
    start = time.perf_counter()
    source = open_store(src, readonly=True, options=src_options)
    try:
        target = create_store(dst, source.model, source.dim, dst_options)
        try:
            report = CopyReport(source.location, target.location)
            with target.writer(lock_timeout):
                kept = _copy_pages(source, target, batch, sample, seed, report, progress)
                target.save_index()
            _verify(source, target, kept, report)
        finally:
            target.close()
    finally:
        source.close()
    report.seconds = time.perf_counter() - start
    return report


def _copy_pages(source: Store, target: Store, batch: int, sample: int, seed: int,
                report: CopyReport, progress: ProgressFn | None) -> dict[str, np.ndarray]:
    """Copy page by page; returns a reservoir sample of ``sample`` (key -> source vector)."""
    rng = np.random.default_rng(seed)
    kept: dict[str, np.ndarray] = {}
    seen, total = 0, source.count()
    for page in source.scan_items(batch):
        _copy_page(page, target, report)
        for it in page.items:  # reservoir sampling: a uniform sample in one pass
            seen += 1
            if len(kept) < sample:
                kept[it.key] = it.vector
            elif (j := int(rng.integers(seen))) < sample:
                kept.pop(list(kept)[j])
                kept[it.key] = it.vector
        if progress:
            progress(seen, total)
    return kept


def _copy_page(page: ItemPage, target: Store, report: CopyReport) -> None:
    there = target.fingerprints([it.key for it in page.items])
    todo = [(it, notes) for it, notes in zip(page.items, page.annotations)
            if not _same(there.get(it.key), it)]
    report.skipped += len(page.items) - len(todo)
    if not todo:
        return
    target.write(WriteBatch(upserts=[it for it, _ in todo]))
    report.copied += len(todo)
    annotated = [(it.key, notes) for it, notes in todo if notes]
    if annotated:
        ids = target.fingerprints([k for k, _ in annotated])
        target.write(WriteBatch(annotations=[(ids[k].id, notes) for k, notes in annotated]))


def _same(fp: Any, it: Any) -> bool:
    return (fp is not None and fp.sha256 == it.sha256 and fp.text == it.text
            and fp.metadata == canonical_json(it.metadata))


def _verify(source: Store, target: Store, kept: dict[str, np.ndarray], report: CopyReport) -> None:
    report.count = target.count()
    if report.count != source.count():
        raise CollectionError(
            f"copy verification failed: {report.destination} holds {report.count} items, "
            f"{report.source} {source.count()}",
            hint="the destination held other items, or a writer changed the source meanwhile; "
                 "copy into an empty destination (re-running resumes)")
    ids = target.fingerprints(list(kept))
    keys = [k for k in kept if k in ids]
    got = target.vectors([ids[k].id for k in keys])
    if len(keys) != len(kept) or not np.allclose(got, np.stack([kept[k] for k in keys]) if keys
                                                 else got, atol=1e-6):
        raise CollectionError(f"copy verification failed: sampled vectors differ in "
                              f"{report.destination}", hint="re-run the copy; then `check` it")
    report.verified = len(keys)


def _same_location(a: str, b: str) -> bool:
    if scheme_of(a) == scheme_of(b) == LOCAL:
        return os.path.realpath(a) == os.path.realpath(b)
    return a.rstrip("/") == b.rstrip("/")
