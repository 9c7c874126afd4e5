"""Read, hash, decode and preprocess items, in worker processes, ahead of the model.

``prepare_batches`` keeps at most ``prefetch`` batches in flight, so memory stays bounded however
large the source, and the model in the main process overlaps with decoding in the workers. A worker
that dies (a decoder crash, the memory cap) breaks only its batch: that batch is retried one file
per fresh worker, and the file that kills its worker becomes an error record.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from jointspace.errors import JointspaceError
from jointspace.ingest.items import IMAGE, SourceItem

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_TEXT_BYTES = 10 * 1024 * 1024


@dataclass
class Prepared:
    """An item after reading: its fingerprint and either model input or an error."""

    item: SourceItem
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None
    array: np.ndarray | None = None  # preprocessed image
    text: str | None = None  # text to embed, for text items
    error: str | None = None


@dataclass(frozen=True)
class PrepareOptions:
    """Picklable settings sent to every worker."""

    preprocessor: Callable | None  # PIL image -> np.ndarray; None when only hashing
    max_pixels: int | None = None
    fast_decode: bool = False


def prepare_item(item: SourceItem, opts: PrepareOptions) -> Prepared:
    """Read one item: stat + sha256 of the file, then decode/preprocess (images) or read text."""
    if item.path is None:  # an in-memory text
        text = item.text or ""
        return Prepared(item, sha256=hashlib.sha256(text.encode()).hexdigest(), text=text)
    out = Prepared(item)
    try:
        st = os.stat(item.path)
        out.size, out.mtime_ns = st.st_size, st.st_mtime_ns
        limit = MAX_FILE_BYTES if item.kind == IMAGE else MAX_TEXT_BYTES
        if st.st_size > limit:
            out.error = f"file is {st.st_size} bytes, over the {limit}-byte limit"
            return out
        with open(item.path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        out.error = f"cannot read file: {exc.strerror or exc}"
        return out
    out.sha256 = hashlib.sha256(data).hexdigest()
    if item.kind == IMAGE:
        _prepare_image(out, data, opts)
    else:
        try:
            out.text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.error = f"text file is not valid UTF-8 (byte {exc.start})"
    return out


def _prepare_image(out: Prepared, data: bytes, opts: PrepareOptions) -> None:
    from jointspace.ingest.decode import load_image

    kwargs: dict = {"name": out.item.path}
    if opts.max_pixels:
        kwargs["max_pixels"] = opts.max_pixels
    if opts.fast_decode:
        kwargs["fast"] = True
    try:
        image = load_image(data, **kwargs)
        if opts.preprocessor is not None:
            out.array = np.asarray(opts.preprocessor(image))
    except JointspaceError as exc:
        out.error = getattr(exc, "reason", None) or exc.message
    except MemoryError:
        out.error = "out of memory while decoding"
    except Exception as exc:  # a hostile file must never abort the batch
        out.error = f"{type(exc).__name__}: {exc}"


def _prepare_batch(items: list[SourceItem], opts: PrepareOptions) -> list[Prepared]:
    return [prepare_item(it, opts) for it in items]


def prepare_batches(
    batches: Iterable[list[SourceItem]],
    opts: PrepareOptions,
    *,
    workers: int = 1,
    prefetch: int = 4,
) -> Iterator[list[Prepared]]:
    """Yield prepared batches in order; ``workers=0`` prepares inline in this process."""
    if workers <= 0:
        for batch in batches:
            yield _prepare_batch(batch, opts)
        return
    pool = _new_pool(workers)
    pending: deque[tuple[list[SourceItem], Future]] = deque()
    it = iter(batches)
    try:
        while True:
            while len(pending) < max(1, prefetch):
                batch = next(it, None)
                if batch is None:
                    break
                try:
                    pending.append((batch, pool.submit(_prepare_batch, batch, opts)))
                except BrokenProcessPool:
                    pool = _restart(pool, workers)
                    pending.append((batch, pool.submit(_prepare_batch, batch, opts)))
            if not pending:
                return
            batch, fut = pending.popleft()
            try:
                yield fut.result()
            except BrokenProcessPool:
                pool = _restart(pool, workers)
                yield _isolate(batch, opts)
                # everything still queued died with the pool: resubmit it
                pending = deque((b, pool.submit(_prepare_batch, b, opts)) for b, _ in pending)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _isolate(batch: list[SourceItem], opts: PrepareOptions) -> list[Prepared]:
    """Re-run each item of a batch whose worker died in its own process to find the culprit."""
    out = []
    for item in batch:
        pool = _new_pool(1)
        try:
            out.extend(pool.submit(_prepare_batch, [item], opts).result())
        except BrokenProcessPool:
            out.append(Prepared(item, error="the decoder process died on this file "
                                            "(crash or memory limit); skipped"))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return out


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # forkserver: workers never inherit torch's or faiss's thread pools from this process.
    ctx = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker)


def _restart(pool: ProcessPoolExecutor, workers: int) -> ProcessPoolExecutor:
    pool.shutdown(wait=False, cancel_futures=True)
    return _new_pool(workers)


def _init_worker() -> None:
    # Workers only decode and resize: one thread each, so they do not fight the model for cores.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
