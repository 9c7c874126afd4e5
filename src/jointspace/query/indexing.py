"""Sync a source into a store: embed what is new or changed, drop what is gone.

Change detection: an unchanged (size, mtime) is trusted without reading the file; otherwise the
file is hashed and only re-embedded if its sha256 differs. Each batch is committed atomically
before the next starts, so a killed run loses at most one batch and a re-run resumes where it
stopped.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from jointspace.engines.base import Embedded, EmbeddedBatch, Engine
from jointspace.engines.local import LocalEngine
from jointspace.ingest.items import IMAGE, TEXT, FileError, SourceItem
from jointspace.ingest.pipeline import Prepared
from jointspace.models.base import Embedder
from jointspace.query import exclusions
from jointspace.store.base import Fingerprint, NewItem, WriteBatch, canonical_json

ProgressFn = Callable[[int, int], None]  # (done, total)
PATH_BYTES = "path_bytes"  # metadata: the exact bytes (base64) of a file name that is not UTF-8


@dataclass
class IndexReport:
    """What one sync did. ``errors`` lists this run's per-file failures."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    truncated: int = 0  # texts over the model's token limit: embedded from their beginning
    scanned: int = 0  # items the source listed (errors apart)
    excluded: int = 0  # removed by hand earlier and unchanged since: left out
    prune_refused: int = 0  # items gone from the source but kept (too many at once)
    seconds: float = 0.0
    errors: list[FileError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "removed": self.removed, "failed": self.failed, "truncated": self.truncated,
            "scanned": self.scanned, "excluded": self.excluded, "prune_refused": self.prune_refused,
            "seconds": round(self.seconds, 3),
            "errors": [e.to_dict() for e in self.errors], "warnings": list(self.warnings),
        }


@dataclass
class SyncOptions:
    batch_size: int = 64
    workers: int | None = None  # decode processes; None = one per spare core, 0 = inline
    max_pixels: int | None = None
    fast_decode: bool = False
    prune: bool | None = None  # None: the source decides
    prune_all: bool = False  # prune even when most of the source's items would go
    max_prune_share: float = 0.5  # above this share of a source's items, pruning waits


def sync_source(store, embedder: Embedder, source, opts: SyncOptions,
                progress: ProgressFn | None = None, engine: Engine | None = None) -> IndexReport:
    """Bring ``store`` in line with ``source``; the caller holds the writer lock.

    ``engine`` (default: :class:`LocalEngine`) decodes and embeds; this function stays the single
    writer, so every engine commits the same batches and resumes the same way after a kill.
    """
    start = time.perf_counter()
    report = IndexReport()
    scanned = [_storable(s) for s in source.scan()]
    items = [s for s in scanned if isinstance(s, SourceItem)]
    listing = bool(getattr(source, "prune", False))  # a folder or manifest, re-listed each time
    excluded = exclusions.load(store).get(source.id, {}) if listing else {}
    skipped = {it.key for it in items if it.key in excluded
               and exclusions.unchanged(it, excluded[it.key])}
    report.excluded, report.scanned = len(skipped), len(items)
    items = [it for it in items if it.key not in skipped]
    pending = WriteBatch()
    for err in (s for s in scanned if isinstance(s, FileError)):
        _fail(report, pending, source.id, err.path, err.path, err.reason)

    fingerprints = store.fingerprints([it.key for it in items])
    to_embed: list[SourceItem] = []
    for it in items:
        fp = fingerprints.get(it.key)
        if fp is not None and it.path is not None and _same_stat(it.path, fp):
            if _touch_if_meta_changed(pending, it, fp):
                report.updated += 1  # same file, new metadata or caption: stored, not re-embedded
            else:
                report.unchanged += 1
        else:
            to_embed.append(it)
    total = len(items)
    done = report.unchanged + report.updated  # metadata-only updates need no embedding
    if progress:
        progress(done, total)

    engine = engine or LocalEngine()
    known_sha = {key: fp.sha256 for key, fp in fingerprints.items()}
    sink = store.worker_sink() if getattr(engine, "upserts_in_workers", False) else None
    extra = {"sink": WorkerUpsert(sink, source.id)} if sink is not None else {}
    for embedded in engine.embed(embedder, to_embed, known_sha, opts, **extra):
        batch = _write_batch(embedded, fingerprints, source.id, report)
        batch.touches += pending.touches
        batch.errors += pending.errors
        pending = WriteBatch()
        store.write(batch)
        done += len(embedded.items)
        if progress:
            progress(done, total)

    prune = source.prune if opts.prune is None else opts.prune
    if prune:
        seen = {it.key for it in items} | {s.path for s in scanned if isinstance(s, FileError)}
        present = store.keys_of_source(source.id)
        gone = [i for key, i in present.items() if key not in seen]
        if gone and not opts.prune_all and len(gone) > opts.max_prune_share * len(present):
            report.prune_refused = len(gone)
            report.warnings.append(
                f"the source now lists {len(seen)} of the {len(present)} items indexed from it; "
                f"kept the {len(gone)} missing ones instead of removing "
                f"{len(gone) / len(present):.0%} of them (an emptied manifest or an unmounted "
                "folder?); pass --prune-all (prune_all=True) to remove them")
        else:
            pending.deletes += gone
            report.removed += len(gone)
    store.write(pending)
    if excluded:
        exclusions.forget(store, source.id, [it.key for it in items if it.key in excluded])
    if not report.scanned:
        report.warnings.append(f"the source {source.id} yielded no items"
                               + (f" ({report.failed} error(s))" if report.failed else ""))
    report.seconds = time.perf_counter() - start
    return report


def _write_batch(embedded: EmbeddedBatch, fingerprints: dict[str, Fingerprint], source: str,
                 report: IndexReport) -> WriteBatch:
    """The store batch for one engine batch: errors, touches, then upserts (images first)."""
    batch = WriteBatch()
    report.truncated += embedded.truncated
    vectors: list[Embedded] = []
    for e in embedded.items:
        p = e.prepared
        fp = fingerprints.get(p.item.key)
        if p.error is not None:
            _fail(report, batch, source, p.item.key, p.item.path or p.item.key, p.error)
            if fp is not None:  # the file changed into something unusable: its old vector lies
                batch.deletes.append(fp.id)
                report.removed += 1
        elif e.vector is None and not e.upserted:
            # touched but identical content: keep the vector; new metadata or text still counts
            meta_changed = canonical_json(p.item.metadata) != fp.metadata
            if meta_changed or _stored_text(p) != fp.text:
                report.updated += 1
            else:
                report.unchanged += 1
            batch.touches.append((p.item.key, p.size, p.mtime_ns,
                                  p.item.metadata if meta_changed else None, _stored_text(p)))
        else:
            vectors.append(e)
    for e in _images_first(vectors):
        it = e.prepared.item
        if it.key in fingerprints:
            report.updated += 1
        else:
            report.added += 1
        batch.upserts.append(_new_item(e, source))
        batch.clear_errors.append(it.key)
    batch.upserted = any(e.upserted for e in vectors)
    return batch


class WorkerUpsert:
    """What an engine's workers call with their embedded items: the store's worker sink, fed
    the same items :func:`_write_batch` would hand ``store.write`` (picklable)."""

    def __init__(self, sink: Callable[[list[NewItem]], bool], source: str) -> None:
        self.sink, self.source = sink, source

    def __call__(self, embedded: list[Embedded]) -> bool:
        todo = [e for e in embedded if e.prepared.error is None and e.vector is not None]
        return self.sink([_new_item(e, self.source) for e in _images_first(todo)])


def _images_first(embedded: list[Embedded]) -> list[Embedded]:
    return sorted(embedded, key=lambda e: e.prepared.item.kind != IMAGE)  # stable


def _new_item(e: Embedded, source: str) -> NewItem:
    p, it = e.prepared, e.prepared.item
    return NewItem(key=it.key, source=source, kind=it.kind, vector=e.vector,
                   path=printable(it.key if it.member else it.path) if it.path else None,
                   text=_stored_text(p), metadata=it.metadata, size=p.size,
                   mtime_ns=p.mtime_ns, sha256=p.sha256)


def _stored_text(p: Prepared) -> str | None:
    return p.text if p.item.kind == TEXT else p.item.text


def _storable(s: SourceItem | FileError) -> SourceItem | FileError:
    """``s``, or a FileError if SQLite cannot store it (its text must be valid UTF-8).

    A file name that is not UTF-8 (Latin-1 from an old camera, say) is kept: the item stores it
    with ``\\xNN`` escapes as its key and path, and its exact bytes, base64, in
    ``metadata["path_bytes"]``; the file itself is read by its real name.
    """
    if isinstance(s, FileError):
        return s
    raw = _name_bytes(s.path)
    if raw is not None:
        s = replace(s, key=printable(s.key),
                    metadata={**s.metadata, PATH_BYTES: base64.b64encode(raw).decode("ascii")})
    try:
        meta = canonical_json(s.metadata)
    except (TypeError, ValueError) as exc:
        return FileError(printable(s.path or s.key), f"metadata cannot be stored as JSON ({exc})")
    for what, value in (("file name", printable(s.path) if s.path else None), ("key", s.key),
                        ("text", s.text), ("metadata", meta)):
        if value is not None and not _is_utf8(value):
            return FileError(printable(s.path or s.key),
                             f"{what} is not valid UTF-8 (undecodable bytes or lone surrogates); "
                             "rename the file or fix the encoding")
    return s


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _name_bytes(path: str | None) -> bytes | None:
    """The bytes of a file name that is not valid UTF-8 (None for a UTF-8 or unencodable one)."""
    if path is None or _is_utf8(path):
        return None
    try:
        return os.fsencode(path)
    except UnicodeEncodeError:  # lone surrogates that no file system byte produced
        return None


def printable(text: str) -> str:
    """``text`` if UTF-8, else with undecodable bytes as ``\\xNN`` (lone surrogates ``\\udNNN``)."""
    raw = _name_bytes(text)
    if raw is not None:
        return raw.decode("utf-8", "backslashreplace")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _fail(report: IndexReport, batch: WriteBatch, source: str, key: str, path: str,
          reason: str) -> None:
    key, path, reason = printable(key), printable(path), printable(reason)
    report.failed += 1
    report.errors.append(FileError(path, reason))
    batch.errors.append((key, source, path, reason))


def _same_stat(path: str, fp: Fingerprint) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == fp.size and st.st_mtime_ns == fp.mtime_ns


def _touch_if_meta_changed(batch: WriteBatch, it: SourceItem, fp: Fingerprint) -> bool:
    """Queue new metadata / caption of an unchanged file; returns whether anything changed."""
    meta = canonical_json(it.metadata)
    text_changed = it.kind == IMAGE and it.text != fp.text
    if meta != fp.metadata or text_changed:
        batch.touches.append((it.key, fp.size, fp.mtime_ns, it.metadata, it.text))
        return True
    return False
