"""The Store protocol and the plain records it trades in.

A store keeps items (key, kind, path/text, metadata, vector) durably and answers exact
nearest-neighbour queries, optionally restricted by a metadata filter. ``LocalStore`` (SQLite + faiss)
is the embedded implementation; other backends (e.g. Qdrant) implement the same protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from jointspace.store.filters import Filter


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

    def __bool__(self) -> bool:
        return bool(self.upserts or self.touches or self.deletes or self.errors
                    or self.clear_errors or self.annotations)


class Store(Protocol):
    """Durable items + vector search."""

    model: str
    dim: int

    def count(self) -> int: ...

    def fingerprints(self, keys: Sequence[str]) -> dict[str, Fingerprint]: ...

    def keys_of_source(self, source: str) -> dict[str, int]: ...

    def write(self, batch: WriteBatch) -> None: ...

    def search(
        self, queries: np.ndarray, k: int, where: Filter | None = None
    ) -> list[list[tuple[int, float]]]: ...

    def get(self, ids: Sequence[int]) -> list[StoredItem]: ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray: ...

    def errors(self) -> list[tuple[str, str]]: ...

    def kind_counts(self) -> dict[str, int]:
        """How many items of each kind."""
        ...

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, unit vectors) of every item."""
        ...

    def changes_since(self, seq: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(written ids, their vectors, deleted ids) after ``seq``, or None if no longer known."""
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
