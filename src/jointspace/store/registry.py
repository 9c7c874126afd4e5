"""Where a collection lives: its location's scheme names the backend that opens it.

    DIR                          local: SQLite truth + faiss index in a directory (the default)
    qdrant://HOST:6333/NAME      a Qdrant server or cluster (qdrants:// for TLS)
    qdrant+local:PATH[#NAME]     qdrant-client's embedded local mode: for trying Qdrant without a
                                 server and for tests, not for production
    qdrant+edge:PATH[#NAME]      Qdrant's embedded engine (qdrant-edge-py), in-process, on disk

The table is data: ``register_store(scheme, module)`` adds a backend, whose module exposes
``BACKEND`` (a :class:`BackendOps`); it is imported on first use, so heavy clients load lazily.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jointspace.errors import BadInputError
from jointspace.store.base import Store

API_KEY_ENV = "JOINTSPACE_QDRANT_API_KEY"
LOCAL = "local"
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")

# scheme -> module exposing BACKEND
BACKENDS: dict[str, str] = {
    LOCAL: "jointspace.store.local_ops",
    "qdrant": "jointspace.store.qdrant",
    "qdrants": "jointspace.store.qdrant",
    "qdrant+local": "jointspace.store.qdrant",
    "qdrant+edge": "jointspace.store.qdrant",
}


@dataclass(frozen=True)
class StoreOptions:
    """How to reach or create a collection; each backend uses the fields it knows."""

    index: str = "flat"  # local: flat (exact), hnsw, int8 or binary
    api_key: str | None = None  # Qdrant: defaults to $JOINTSPACE_QDRANT_API_KEY; never printed
    shards: int | None = None  # Qdrant, on create
    replicas: int | None = None  # Qdrant, on create
    index_dim: int | None = None  # local: index only this renormalised prefix (Matryoshka)

    def __post_init__(self) -> None:
        from jointspace.store.local import check_index_kind

        check_index_kind(self.index)  # a typo fails here, before a model takes seconds to load

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        key = "***" if self.api_key else None
        return (f"StoreOptions(index={self.index!r}, api_key={key}, shards={self.shards}, "
                f"replicas={self.replicas})")


@dataclass(frozen=True)
class BackendOps:
    """What a backend module offers the registry."""

    open: Callable[[str, bool, StoreOptions], Store]  # (location, readonly, options)
    create: Callable[[str, str, int, StoreOptions], Store]  # (location, model, dim, options)
    exists: Callable[[str, StoreOptions], bool]
    check: Callable[..., Any]  # (location, *, repair, lock_timeout, options) -> CheckReport
    compact: Callable[..., dict[str, Any]] | None = None  # (location, *, lock_timeout)


def register_store(scheme: str, module: str) -> None:
    """Make ``scheme:...`` locations open through ``module.BACKEND``."""
    BACKENDS[scheme] = module


def scheme_of(location: str) -> str:
    """The backend scheme of ``location``; anything without a known scheme is a local directory."""
    m = _SCHEME.match(str(location))
    return m.group(1) if m and m.group(1) in BACKENDS else LOCAL


def backend(location: str) -> BackendOps:
    module = BACKENDS[scheme_of(location)]
    try:
        return importlib.import_module(module).BACKEND
    except ImportError as exc:
        raise BadInputError(f"the backend for {location_label(location)} is not installed "
                            f"({exc.name or exc})",
                            hint="pip install 'jointspace[qdrant]'") from exc


def open_store(location: str, *, readonly: bool = False,
               options: StoreOptions | None = None) -> Store:
    """Open the collection at ``location`` (CollectionNotFoundError if there is none)."""
    return backend(str(location)).open(str(location), readonly, options or StoreOptions())


def create_store(location: str, model: str, dim: int,
                 options: StoreOptions | None = None) -> Store:
    """Create (or open, if it exists with the same model) a collection at ``location``."""
    return backend(str(location)).create(str(location), model, dim, options or StoreOptions())


def store_exists(location: str, options: StoreOptions | None = None) -> bool:
    return backend(str(location)).exists(str(location), options or StoreOptions())


def check_store(location: str, *, repair: bool = False, lock_timeout: float = 0.0,
                options: StoreOptions | None = None) -> Any:
    """The backend's integrity check (a ``CheckReport``)."""
    return backend(str(location)).check(str(location), repair=repair, lock_timeout=lock_timeout,
                                        options=options or StoreOptions())


def compact_store(location: str, *, lock_timeout: float = 0.0) -> dict[str, Any]:
    ops = backend(str(location))
    if ops.compact is None:
        raise BadInputError(f"{location_label(location)}: compaction is for local collections",
                            hint="the server compacts its own segments (Qdrant's optimizers)")
    return ops.compact(str(location), lock_timeout=lock_timeout)


def location_label(location: str) -> str:
    """``location`` as safe to print: any credentials in it removed."""
    return re.sub(r"//[^/@]*@", "//", str(location))


def default_name(location: str | Path) -> str:
    """A short name for a collection: its directory's name, or the last part of its URI."""
    if scheme_of(str(location)) == LOCAL:
        return Path(location).resolve().name
    return re.split(r"[/#:]", str(location).rstrip("/"))[-1]
