"""The local backend's entry in the store registry: a directory with SQLite + faiss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jointspace.store.local import DB_FILE, LocalStore
from jointspace.store.registry import BackendOps, StoreOptions


def _open(location: str, readonly: bool, options: StoreOptions) -> LocalStore:
    return LocalStore.open(Path(location), readonly=readonly)


def _create(location: str, model: str, dim: int, options: StoreOptions) -> LocalStore:
    return LocalStore.create(Path(location), model, dim, index=options.index,
                             index_dim=options.index_dim)


def _exists(location: str, options: StoreOptions) -> bool:
    return (Path(location) / DB_FILE).is_file()


def _check(location: str, *, repair: bool, lock_timeout: float, options: StoreOptions) -> Any:
    from jointspace.store.check import check_collection

    return check_collection(Path(location), repair=repair, lock_timeout=lock_timeout)


def _compact(location: str, *, lock_timeout: float) -> dict[str, Any]:
    from jointspace.store.compact import compact_collection

    return compact_collection(Path(location), lock_timeout=lock_timeout)


BACKEND = BackendOps(open=_open, create=_create, exists=_exists, check=_check, compact=_compact)
