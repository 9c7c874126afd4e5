"""One model thread for the whole service, batching the requests that wait together.

Every model call goes through ``ModelWorker``: request threads submit work and block on a future;
the worker thread takes the first waiting job, then drains whatever else is already queued and
embeds all waiting texts (and all waiting images) of one model in a single call. Nothing waits
on purpose, so a lone request pays no batching delay; under load the batches grow by themselves.
Admission (how many may wait) is bounded outside, by ``admission.Gate``.

``BatchedEmbedder`` wraps a real embedder so a ``Collection`` uses the worker transparently.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jointspace.models.base import Embedder

log = logging.getLogger("jointspace.serve")


@dataclass
class _Job:
    kind: str  # "texts", "images" (batched with others) or "call" (run alone)
    target: Any  # the embedder, or the callable for "call"
    payload: Sequence[Any]
    future: Future = field(default_factory=Future)


@dataclass
class WorkerStats:
    calls: int = 0  # model calls made for batched kinds
    items: int = 0  # texts + images embedded by those calls
    largest_batch: int = 0


class ModelWorker:
    """A daemon thread that owns every model call; see the module docstring."""

    def __init__(self, max_batch: int = 64) -> None:
        self.max_batch = max_batch
        self.stats = WorkerStats()
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="jointspace-model", daemon=True)
        self._thread.start()

    def embed(self, embedder: Embedder, kind: str, inputs: Sequence[Any]) -> np.ndarray:
        """Embed ``inputs`` ("texts" or "images") on the worker, batched with other waiters."""
        if not inputs:
            return np.zeros((0, embedder.dim), np.float32)
        return self._submit(_Job(kind, embedder, list(inputs)))

    @property
    def waiting(self) -> int:
        """Requests queued for the model thread (not counting the batch it is running)."""
        return self._queue.qsize()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the worker thread (unbatched model work)."""
        return self._submit(_Job("call", fn, args))

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _submit(self, job: _Job) -> Any:
        if not self._thread.is_alive():
            raise RuntimeError("the model worker has stopped")
        self._queue.put(job)
        return job.future.result()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            size = len(first.payload)
            while size < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # finish this round, then stop
                    break
                jobs.append(nxt)
                size += len(nxt.payload)
            self._process(jobs)

    def _process(self, jobs: list[_Job]) -> None:
        groups: dict[tuple[int, str], list[_Job]] = {}
        for job in jobs:
            if job.kind == "call":
                _settle([job], lambda j=job: [j.target(*j.payload)])
            else:
                groups.setdefault((id(job.target), job.kind), []).append(job)
        for (_, kind), group in groups.items():
            if len(group) == 1 or not _settle(group, lambda g=group, k=kind:
                                              self._embed_group(g, k), fail=False):
                # one bad input must not fail the requests it was batched with: retry alone
                for job in group:
                    _settle([job], lambda j=job, k=kind: self._embed_group([j], k))

    def _embed_group(self, group: list[_Job], kind: str) -> list[np.ndarray]:
        flat = [x for job in group for x in job.payload]
        embed = getattr(group[0].target, f"embed_{kind}")
        vectors = embed(flat)
        self.stats.calls += 1
        self.stats.items += len(flat)
        self.stats.largest_batch = max(self.stats.largest_batch, len(flat))
        out, start = [], 0
        for job in group:
            out.append(vectors[start : start + len(job.payload)])
            start += len(job.payload)
        return out


def _settle(jobs: list[_Job], compute: Callable[[], list[Any]], fail: bool = True) -> bool:
    """Resolve every job's future with its result and return True.

    On an exception: with ``fail`` every future gets it (waiting request threads must always be
    released); without, the futures are left pending and False is returned.
    """
    try:
        results = compute()
    except Exception as exc:  # noqa: BLE001 - any model failure goes back to its requests
        if fail:
            for job in jobs:
                job.future.set_exception(exc)
        return False
    except BaseException as exc:
        for job in jobs:
            job.future.set_exception(exc)
        raise
    for job, result in zip(jobs, results):
        job.future.set_result(result)
    return True


class BatchedEmbedder:
    """An Embedder whose model calls run on a shared ``ModelWorker``."""

    def __init__(self, inner: Embedder, worker: ModelWorker) -> None:
        self.inner = inner
        self.worker = worker
        self.name = inner.name
        self.dim = inner.dim
        self.modalities = inner.modalities
        self.max_text_tokens = inner.max_text_tokens
        self.runtimes = inner.runtimes

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.worker.embed(self.inner, "texts", texts)

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        return self.worker.embed(self.inner, "images", images)

    def image_preprocessor(self) -> Callable[[Any], np.ndarray]:
        return self.inner.image_preprocessor()  # type: ignore[attr-defined]

    def embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        return self.worker.call(self.inner.embed_preprocessed, batch)  # type: ignore[attr-defined]

    def token_counts(self, texts: Sequence[str]) -> list[int] | None:
        return self.inner.token_counts(texts)

    def __repr__(self) -> str:
        return f"BatchedEmbedder({self.inner!r})"
