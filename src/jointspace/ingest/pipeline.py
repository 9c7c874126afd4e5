"""Read, hash, decode and preprocess items, in worker processes, ahead of the model.

``prepare_batches`` keeps at most ``prefetch`` batches in flight, so memory stays bounded however
large the source, and the model in the main process overlaps with decoding in the workers. A worker
that dies (a decoder crash, the memory cap) breaks only its batch: that batch is retried one file
per fresh worker, and the file that kills its worker becomes an error record.

Workers are fenced: an address-space cap (``memory_limit`` bytes above what the worker uses when
idle; RLIMIT_AS, Linux) and a per-file time limit (``timeout_s``: an alarm inside the worker, and a
backstop in this process that kills a worker stuck in C code). Inline preparation (``workers=0``)
has neither.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import stat
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from jointspace.errors import JointspaceError
from jointspace.ingest.items import IMAGE, SourceItem
from jointspace.ingest.mainguard import GUARD_HINT, unguarded_main_script

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_TEXT_BYTES = 10 * 1024 * 1024
DECODE_MEMORY_BYTES = 3 * 1024**3  # per worker: a 64 MP 16-bit image needs ~2 GB to convert
DECODE_TIMEOUT_S = 60.0  # per file


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
    memory_limit: int | None = DECODE_MEMORY_BYTES  # worker address space above idle; None: no cap
    timeout_s: float | None = DECODE_TIMEOUT_S  # per file in a worker; None: no limit


def prepare_item(item: SourceItem, opts: PrepareOptions) -> Prepared:
    """Read one item: stat + sha256 of the file, then decode/preprocess (images) or read text."""
    if item.path is None:  # an in-memory text
        text = item.text or ""
        return Prepared(item, sha256=hashlib.sha256(text.encode()).hexdigest(), text=text)
    out = Prepared(item)
    try:
        # O_NONBLOCK: opening a FIFO must not wait forever for a writer
        with os.fdopen(os.open(item.path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            st = os.fstat(f.fileno())
            out.size, out.mtime_ns = st.st_size, st.st_mtime_ns
            if not stat.S_ISREG(st.st_mode):
                out.error = "not a regular file (a FIFO, device or socket); skipped"
                return out
            limit = MAX_FILE_BYTES if item.kind == IMAGE else MAX_TEXT_BYTES
            offset, length = item.member or (0, st.st_size)
            if length > limit:
                out.error = f"file is {length} bytes, over the {limit}-byte limit"
                return out
            f.seek(offset)  # a member of an archive (a webdataset shard) is read in place
            # sized by the file, not the limit: read(n) reserves n bytes up front
            data = f.read(min(length, limit) + 1) if item.member is None else f.read(length)
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
    except Exception as exc:  # noqa: BLE001 - a hostile file must never abort the batch
        out.error = f"{type(exc).__name__}: {exc}"


def _prepare_batch(items: list[SourceItem], opts: PrepareOptions) -> list[Prepared]:
    return [prepare_item(it, opts) for it in items]


class _Timeout(BaseException):
    """Raised by the worker's alarm; a BaseException so no ``except Exception`` swallows it."""


def _on_alarm(signum, frame) -> None:
    raise _Timeout


def prepare_fenced(items: list[SourceItem], opts: PrepareOptions) -> list[Prepared]:
    """``_prepare_batch`` in a worker: under the memory cap, each file under the time limit."""
    _cap_memory(opts.memory_limit)
    out = []
    for item in items:
        if opts.timeout_s:
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, opts.timeout_s)
        try:
            out.append(prepare_item(item, opts))
        except _Timeout:
            out.append(Prepared(item, error=_timeout_reason(opts)))
        except MemoryError:
            out.append(Prepared(item, error="out of memory (over the decode worker's memory cap "
                                            f"of {opts.memory_limit} bytes); skipped"))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return out


def _timeout_reason(opts: PrepareOptions) -> str:
    return f"decoding took longer than {opts.timeout_s:g} s; skipped"


def _cap_memory(budget: int | None) -> None:
    """Limit this worker's address space to what it maps now plus ``budget`` bytes."""
    if budget is None:
        return
    try:
        import resource

        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        want = mapped + budget
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ImportError, OSError, ValueError):
        pass  # no /proc (not Linux): decode without the cap


def prepare_batches(
    batches: Iterable[list[SourceItem]],
    opts: PrepareOptions,
    *,
    workers: int = 1,
    prefetch: int = 4,
) -> Iterator[list[Prepared]]:
    """Yield prepared batches in order; ``workers=0`` prepares inline in this process."""
    if workers > 0 and (script := unguarded_main_script()):
        warnings.warn(f"jointspace: decoding in this process because {script} has no "
                      f"`if __name__ == \"__main__\":` guard; {GUARD_HINT}", RuntimeWarning,
                      stacklevel=2)
        workers = 0
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
                    pending.append((batch, pool.submit(prepare_fenced, batch, opts)))
                except BrokenProcessPool:
                    pool = _restart(pool, workers)
                    pending.append((batch, pool.submit(prepare_fenced, batch, opts)))
            if not pending:
                return
            batch, fut = pending.popleft()
            try:
                result = fut.result(timeout=_backstop(opts, len(batch)))
            except (BrokenProcessPool, FutureTimeout, _Timeout, MemoryError):
                _kill_workers(pool)  # stuck in C code past the alarm, dead, or hit between files
                pool = _restart(pool, workers)
                result = _isolate(batch, opts)
                # everything still queued died with the pool: resubmit it
                pending = deque((b, pool.submit(prepare_fenced, b, opts)) for b, _ in pending)
            yield result
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _isolate(batch: list[SourceItem], opts: PrepareOptions) -> list[Prepared]:
    """Re-run each item of a batch whose worker died in its own process to find the culprit."""
    out = []
    for item in batch:
        pool = _new_pool(1)
        try:
            out.extend(pool.submit(prepare_fenced, [item], opts).result(_backstop(opts, 1)))
        except BrokenProcessPool:
            out.append(Prepared(item, error="the decoder process died on this file "
                                            "(crash or memory limit); skipped"))
        except (FutureTimeout, _Timeout):
            _kill_workers(pool)
            out.append(Prepared(item, error=_timeout_reason(opts)))
        except MemoryError:
            out.append(Prepared(item, error="out of memory in the decoder; skipped"))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return out


def _backstop(opts: PrepareOptions, n: int) -> float | None:
    """How long this process waits for a batch before it kills the worker (the alarm failed)."""
    return None if not opts.timeout_s else 2 * n * opts.timeout_s + 5.0


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public kill before Python 3.14 (terminate_workers)
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        proc.kill()


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
