"""Sync a source into a store: embed what is new or changed, drop what is gone.

Change detection: an unchanged (size, mtime) is trusted without reading the file; otherwise the
file is hashed and only re-embedded if its sha256 differs. Each batch is committed atomically
before the next starts, so a killed run loses at most one batch and a re-run resumes where it
stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from jointspace.ingest.items import IMAGE, TEXT, FileError, SourceItem
from jointspace.ingest.pipeline import Prepared, PrepareOptions, prepare_batches
from jointspace.iters import batched
from jointspace.models.base import Embedder
from jointspace.store.base import Fingerprint, NewItem, WriteBatch
from jointspace.store.sqlite import canonical_json

ProgressFn = Callable[[int, int], None]  # (done, total)


@dataclass
class IndexReport:
    """What one sync did. ``errors`` lists this run's per-file failures."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    truncated: int = 0  # texts over the model's token limit: embedded from their beginning
    seconds: float = 0.0
    errors: list[FileError] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "removed": self.removed, "failed": self.failed, "truncated": self.truncated,
            "seconds": round(self.seconds, 3),
            "errors": [e.to_dict() for e in self.errors],
        }


@dataclass
class SyncOptions:
    batch_size: int = 64
    workers: int | None = None  # decode processes; None = one per spare core, 0 = inline
    max_pixels: int | None = None
    fast_decode: bool = False
    prune: bool | None = None  # None: the source decides


def sync_source(store, embedder: Embedder, source, opts: SyncOptions,
                progress: ProgressFn | None = None) -> IndexReport:
    """Bring ``store`` in line with ``source``; the caller holds the writer lock."""
    start = time.perf_counter()
    report = IndexReport()
    scanned = [_storable(s) for s in source.scan()]
    items = [s for s in scanned if isinstance(s, SourceItem)]
    pending = WriteBatch()
    for err in (s for s in scanned if isinstance(s, FileError)):
        _fail(report, pending, source.id, err.path, err.path, err.reason)

    fingerprints = store.fingerprints([it.key for it in items])
    to_embed: list[SourceItem] = []
    for it in items:
        fp = fingerprints.get(it.key)
        if fp is not None and it.path is not None and _same_stat(it.path, fp):
            report.unchanged += 1
            _touch_if_meta_changed(pending, it, fp)
        else:
            to_embed.append(it)
    total = len(items)
    done = report.unchanged
    if progress:
        progress(done, total)

    prep = PrepareOptions(
        preprocessor=embedder.image_preprocessor() if any(i.kind == IMAGE for i in to_embed)
        else None,
        max_pixels=opts.max_pixels, fast_decode=opts.fast_decode,
    )
    workers = _default_workers() if opts.workers is None else opts.workers
    if prep.preprocessor is None or not to_embed:
        workers = 0  # texts: nothing to decode
    elif len(to_embed) <= opts.batch_size:
        workers = min(workers, 1)  # a few files: one fenced worker still contains a hostile one
    for prepared in prepare_batches(batched(to_embed, opts.batch_size), prep, workers=workers):
        batch = _embed_batch(embedder, prepared, fingerprints, source.id, report)
        batch.touches += pending.touches
        batch.errors += pending.errors
        pending = WriteBatch()
        store.write(batch)
        done += len(prepared)
        if progress:
            progress(done, total)

    prune = source.prune if opts.prune is None else opts.prune
    if prune:
        seen = {it.key for it in items} | {s.path for s in scanned if isinstance(s, FileError)}
        gone = [i for key, i in store.keys_of_source(source.id).items() if key not in seen]
        pending.deletes += gone
        report.removed += len(gone)
    store.write(pending)
    report.seconds = time.perf_counter() - start
    return report


def _embed_batch(embedder: Embedder, prepared: list[Prepared],
                 fingerprints: dict[str, Fingerprint], source: str,
                 report: IndexReport) -> WriteBatch:
    batch = WriteBatch()
    images, texts = [], []
    for p in prepared:
        fp = fingerprints.get(p.item.key)
        if p.error is not None:
            _fail(report, batch, source, p.item.key, p.item.path or p.item.key, p.error)
            if fp is not None:  # the file changed into something unusable: its old vector lies
                batch.deletes.append(fp.id)
                report.removed += 1
        elif fp is not None and fp.sha256 == p.sha256:
            report.unchanged += 1  # touched but identical content: keep the vector
            meta = canonical_json(p.item.metadata)
            batch.touches.append((p.item.key, p.size, p.mtime_ns,
                                  p.item.metadata if meta != fp.metadata else None,
                                  _stored_text(p)))
        elif p.item.kind == IMAGE:
            images.append(p)
        else:
            texts.append(p)
    vectors: list[tuple[Prepared, np.ndarray]] = []
    if images:
        arr = embedder.embed_preprocessed(np.stack([p.array for p in images]))
        vectors += list(zip(images, arr))
    if texts:
        strings = [p.text or "" for p in texts]
        vectors += list(zip(texts, embedder.embed_texts(strings)))
        report.truncated += count_truncated(embedder, strings)
    for p, vec in vectors:
        it = p.item
        if it.key in fingerprints:
            report.updated += 1
        else:
            report.added += 1
        batch.upserts.append(NewItem(
            key=it.key, source=source, kind=it.kind, vector=vec, path=it.path,
            text=_stored_text(p), metadata=it.metadata, size=p.size, mtime_ns=p.mtime_ns,
            sha256=p.sha256,
        ))
        batch.clear_errors.append(it.key)
    return batch


def count_truncated(embedder: Embedder, texts: list[str]) -> int:
    """How many ``texts`` are longer than the model's token limit (its tokenizer cuts them)."""
    limit = getattr(embedder, "max_text_tokens", None)
    model = getattr(embedder, "model", None)
    tokenizer = getattr(embedder, "tokenizer", None) or getattr(model, "tokenizer", None)
    if not limit or tokenizer is None or not texts:
        return 0
    try:
        ids = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        return sum(len(x) > limit for x in ids["input_ids"])
    except Exception:  # noqa: BLE001 - a tokenizer we do not know: say nothing, never fail
        return 0


def _stored_text(p: Prepared) -> str | None:
    return p.text if p.item.kind == TEXT else p.item.text


def _storable(s: SourceItem | FileError) -> SourceItem | FileError:
    """``s``, or a FileError if SQLite cannot store it (its text must be valid UTF-8)."""
    if isinstance(s, FileError):
        return s
    try:
        meta = canonical_json(s.metadata)
    except (TypeError, ValueError) as exc:
        return FileError(printable(s.path or s.key), f"metadata cannot be stored as JSON ({exc})")
    for what, value in (("file name", s.path), ("key", s.key), ("text", s.text),
                        ("metadata", meta)):
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


def printable(text: str) -> str:
    """``text`` with undecodable bytes / lone surrogates shown as escapes (storable as UTF-8)."""
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


def _touch_if_meta_changed(batch: WriteBatch, it: SourceItem, fp: Fingerprint) -> None:
    meta = canonical_json(it.metadata)
    text_changed = it.kind == IMAGE and it.text != fp.text
    if meta != fp.metadata or text_changed:
        batch.touches.append((it.key, fp.size, fp.mtime_ns, it.metadata, it.text))


def _default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)
