"""The Store protocol and the plain records it trades in.

A store keeps items (key, kind, path/text, metadata, vector) durably and answers exact
nearest-neighbour queries, optionally restricted by a metadata filter. ``LocalStore`` (SQLite + faiss)
is the embedded implementation; other backends (e.g. Qdrant) implement the same protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from jointspace.store.filters import Filter


def check_model(location: str, built: tuple[str, int], model: str, dim: int | None,
                hint: str) -> None:
    """Raise ModelMismatchError unless ``model`` (and ``dim``) is what the collection was built
    with (``built``: its model and dim)."""
    from jointspace.errors import ModelMismatchError

    if model != built[0] or (dim is not None and dim != built[1]):
        raise ModelMismatchError(
            f"collection {location} was built with {built[0]} (dim {built[1]}); "
            f"refusing to mix in {model}" + (f" (dim {dim})" if dim is not None else ""),
            hint=hint)


def check_dims(batch: WriteBatch, dim: int) -> None:
    """Refuse a batch whose vectors do not have the collection's dim."""
    from jointspace.errors import ModelMismatchError

    for item in [] if batch.upserted else batch.upserts:
        if item.vector.shape != (dim,):
            raise ModelMismatchError(f"vector of shape {item.vector.shape} in a dim {dim} "
                                     "collection")


# allow_nan=False: NaN/Infinity are not JSON; stored, they make SQLite's json_extract fail on
# every row-scanning filter of the collection. One encoder: json.dumps with options builds a new
# one per call, which dominated bulk imports.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                              allow_nan=False)


def canonical_json(value: dict) -> str:
    """The one JSON form of metadata that change detection compares (keys sorted, compact)."""
    return _CANONICAL.encode(value)


def merged_metadata(metadata: dict[str, Any], annotations: dict[str, Any]) -> dict[str, Any]:
    """The metadata an item shows: the source's, overridden by annotations."""
    return {**metadata, **annotations}


def keyword_text(text: str | None, metadata: dict[str, Any] | None = None) -> str:
    """The keyword field of an item: its text (caption) plus its string / list-of-string metadata."""
    parts = [text] if text else []
    for value in (metadata or {}).values():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list | tuple):
            parts.extend(v for v in value if isinstance(v, str))
    return "\n".join(parts)


@dataclass
class NewItem:
    """An item to insert or replace (matched by ``key``), with its unit vector."""

    key: str
    source: str
    kind: str
    vector: np.ndarray
    path: str | None = None
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None


@dataclass
class Fingerprint:
    """What change detection needs to know about a stored item."""

    id: int
    size: int | None
    mtime_ns: int | None
    sha256: str | None
    metadata: str  # canonical JSON
    text: str | None


@dataclass
class StoredItem:
    """A stored item without its vector."""

    id: int
    key: str
    source: str
    kind: str
    path: str | None
    text: str | None
    metadata: dict[str, Any]


@dataclass
class StateBlob:
    """Derived state kept in a collection, and the seq of the items it was computed from."""

    data: bytes
    seq: int


@dataclass
class ItemPage:
    """Stored items as written (source metadata, annotations apart, fingerprints): for copying."""

    ids: list[int]
    items: list[NewItem]  # each with its vector
    annotations: list[dict[str, Any]]


@dataclass
class KeywordInputs:
    """What a keyword index is built from, and the seq it reflects (its change marker)."""

    seq: int
    ids: list[int]
    texts: list[str]  # keyword_text(text, metadata) per id


@dataclass
class WriteBatch:
    """Everything one atomic commit changes."""

    upserts: list[NewItem] = field(default_factory=list)
    # (key, size, mtime_ns, metadata-or-None, text-or-None): metadata/stat changes, same vector
    touches: list[tuple[str, int | None, int | None, dict | None, str | None]] = field(
        default_factory=list
    )
    deletes: list[int] = field(default_factory=list)
    errors: list[tuple[str, str, str, str]] = field(default_factory=list)  # key, source, path, why
    clear_errors: list[str] = field(default_factory=list)  # keys that now succeed
    # (id, patch): merged into the item's annotations (RFC 7396: a None value removes the key)
    annotations: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    # True: a worker sink (Store.worker_sink) already wrote the upserts' points; the store records
    # the rest of the batch and its seq (the upserts carry no vectors then)
    upserted: bool = False

    def __bool__(self) -> bool:
        return bool(self.upserts or self.touches or self.deletes or self.errors
                    or self.clear_errors or self.annotations)


class Store(Protocol):
    """Durable items + vector search: the only door to storage for everything above ``store/``.

    ``location`` is what names the collection (a directory, a ``qdrant://`` URI...).
    """

    model: str
    dim: int
    location: str
    readonly: bool
    directory: Path | None  # the local directory holding it; None when it lives on a server

    def count(self) -> int: ...

    def check_model(self, model: str, dim: int | None = None) -> None:
        """Raise ModelMismatchError unless the collection was built with ``model`` (and ``dim``)."""
        ...

    def fingerprints(self, keys: Sequence[str]) -> dict[str, Fingerprint]: ...

    def keys_of_source(self, source: str) -> dict[str, int]: ...

    def writer(self, timeout: float = 0.0) -> AbstractContextManager[Any]:
        """Hold the right to write for the block (waiting up to ``timeout`` seconds)."""
        ...

    def write(self, batch: WriteBatch) -> None: ...

    def worker_sink(self) -> Callable[[list[NewItem]], bool] | None:
        """A picklable writer that worker processes may call with their own items, or None.

        It returns False when the caller must write the items through :meth:`write` instead;
        True when it wrote them (then ``write`` gets them with ``WriteBatch.upserted``).
        """
        ...

    def save_index(self) -> None:
        """Persist derived index structures after writes (a no-op where the backend keeps them)."""
        ...

    def search(
        self, queries: np.ndarray, k: int, where: Filter | None = None
    ) -> list[list[tuple[int, float]]]: ...

    def filter_ids(self, where: Filter) -> np.ndarray:
        """Ids of every item matching ``where`` (int64, ascending)."""
        ...

    def scan_vectors(self, where: Filter | None = None,
                     batch: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every (matching) item's (ids, vectors) in batches of at most ``batch``, by id."""
        ...

    def scan_items(self, batch: int = 1024) -> Iterator[ItemPage]:
        """Every item as written, with its vector, in pages by id (for copying a collection)."""
        ...

    def keyword_inputs(self) -> KeywordInputs:
        """Every item's keyword text, for a keyword index built outside the store."""
        ...

    def keyword_search(self, query: str, depth: int,
                       where: Filter | None = None) -> tuple[list[int], np.ndarray] | None:
        """BM25 top ``depth`` (ids, scores > 0) when the backend has a keyword index of its own;
        None when the caller should build one from :meth:`keyword_inputs`."""
        ...

    def cache_dir(self) -> Path | None:
        """A local directory where callers may keep derived files (writing only when the store
        is not read-only), or None."""
        ...

    def get(self, ids: Sequence[int]) -> list[StoredItem]: ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray: ...

    def errors(self) -> list[tuple[str, str]]: ...

    def info(self) -> dict[str, Any]:
        """Location, count, kinds, errors, seq, format, index and size as plain data."""
        ...

    def seq(self) -> int:
        """The number of the last committed write batch (grows with every change)."""
        ...

    def read_state(self, name: str) -> StateBlob | None:
        """Derived state stored under ``name`` (query bank, calibration, codes...), or None."""
        ...

    def write_state(self, name: str, data: bytes, seq: int | None = None) -> None:
        """Store derived state (writer only); ``seq`` defaults to the current one."""
        ...

    def close(self) -> None: ...
