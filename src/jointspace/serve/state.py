"""Everything one service process shares: collections, models, the model worker, gates, caches."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from jointspace.errors import BadInputError, NotFoundError
from jointspace.query import Collection
from jointspace.query.runtimes import runtime_for
from jointspace.serve.admission import Gate
from jointspace.serve.auth import ADMIN, TokenStore
from jointspace.serve.batching import BatchedEmbedder, ModelWorker
from jointspace.serve.classify import ClassifierCache
from jointspace.serve.connections import ConnectionGuard
from jointspace.serve.settings import ServeSettings
from jointspace.serve.thumbs import ThumbnailCache
from jointspace.store.registry import LOCAL, default_name, scheme_of

T = TypeVar("T")
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Served:
    """One collection as the service knows it."""

    name: str
    collection: Collection
    writable: bool


def parse_collection_arg(arg: str) -> tuple[str | None, Path | str]:
    """``NAME=LOCATION`` or ``LOCATION`` (a directory, or a URI such as ``qdrant://H:6333/N``)."""
    name, sep, location = arg.partition("=")
    if not (sep and name and not os.path.exists(arg) and ":" not in name):
        name, location = None, arg
    return name, location if scheme_of(location) != LOCAL else Path(location)


class ServeState:
    """Open collections (one shared model per model name) and the machinery around them."""

    def __init__(self, settings: ServeSettings, tokens: TokenStore | None = None) -> None:
        self.settings = settings
        self.tokens = tokens
        self.worker = ModelWorker(max_batch=settings.max_text_batch)
        self.model_gate = Gate(settings.queue_size, "model")
        self.io_gate = Gate(settings.queue_size, "image")
        self.model_pool = ThreadPoolExecutor(settings.search_threads, "jointspace-search")
        self.io_pool = ThreadPoolExecutor(4, "jointspace-io")
        self.write_pool = ThreadPoolExecutor(1, "jointspace-write")  # one writer at a time
        self.connections = ConnectionGuard(settings.max_connections,
                                           settings.max_connections_per_client,
                                           settings.header_timeout_s, settings.body_timeout_s,
                                           settings.send_timeout_s)
        self.thumbnails = ThumbnailCache(settings.thumbnail_cache_bytes)
        self.classifiers = ClassifierCache()
        self.collections: dict[str, Served] = {}
        self.embedders: dict[str, BatchedEmbedder] = {}

    @classmethod
    def open(cls, paths: Sequence[str | Path], settings: ServeSettings | None = None,
             tokens: TokenStore | None = None) -> ServeState:
        """Open every collection; writable only when an admin token can authorise writes."""
        settings = settings or ServeSettings()
        state = cls(settings, tokens)
        writable = tokens is not None and tokens.has_role(ADMIN)
        try:
            for arg in paths:
                name, path = parse_collection_arg(str(arg))
                state.add_collection(path, name=name, writable=writable)
        except BaseException:
            state.close()
            raise
        if not state.collections:
            raise BadInputError("no collection to serve", hint="jointspace serve DIR [DIR...]")
        return state

    def add_collection(self, path: Path | str, *, name: str | None = None,
                       writable: bool = False) -> Served:
        """Open a collection (a directory or a URI such as ``qdrant://HOST:6333/NAME``);
        collections built with the same model share one loaded model."""
        opened = Collection.open(path, readonly=not writable)
        try:
            runtime = runtime_for(opened.store, self.settings.runtime)
            col = Collection(opened.store, self.embedder_for(opened.store.model, runtime))
        except BaseException:
            opened.close()
            raise
        name = self._unique_name(name or default_name(path))
        served = Served(name, col, writable)
        self.collections[name] = served
        return served

    def embedder_for(self, model: str, runtime: str | None = None) -> BatchedEmbedder:
        """The shared, worker-batched embedder of ``model``, loaded on first request."""
        from jointspace.models import load_embedder

        if model not in self.embedders:
            self.embedders[model] = BatchedEmbedder(load_embedder(model, runtime=runtime),
                                                    self.worker)
        return self.embedders[model]

    def get(self, name: str) -> Served:
        served = self.collections.get(name)
        if served is None:
            raise NotFoundError(f"no collection named {name!r}",
                                hint="GET /api/collections lists the served collections")
        return served

    async def run_model(self, fn: Callable[..., T], *args: Any) -> T:
        """Run model-bound work off the event loop; 503 when too many are already admitted."""
        return await _admitted(self.model_gate, self.model_pool, fn, *args)

    async def run_io(self, fn: Callable[..., T], *args: Any) -> T:
        """Run image decoding (thumbnails, originals) off the loop, bounded like model work."""
        return await _admitted(self.io_gate, self.io_pool, fn, *args)

    async def run_write(self, fn: Callable[..., T], *args: Any) -> T:
        return await _admitted(self.model_gate, self.write_pool, fn, *args)

    def close(self) -> None:
        for pool in (self.model_pool, self.io_pool, self.write_pool):
            pool.shutdown(wait=True, cancel_futures=True)
        self.worker.close()
        for served in self.collections.values():
            served.collection.close()
        self.collections.clear()

    def _unique_name(self, base: str) -> str:
        base = _NAME_OK.sub("-", base).strip("-.") or "collection"
        name, n = base, 2
        while name in self.collections:
            name, n = f"{base}-{n}", n + 1
        return name


async def _admitted(gate: Gate, pool: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
    gate.enter()
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
    finally:
        gate.leave()
