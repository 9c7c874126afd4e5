"""The Qdrant backend: collections at ``qdrant://HOST:6333/NAME``, ``qdrants://...`` or
``qdrant+local:PATH`` (see ``location.py``); registered in ``jointspace.store.registry``.

Importing this package is cheap; qdrant-client is imported when a collection is opened.
"""

from __future__ import annotations

from typing import Any

from jointspace.errors import CollectionNotFoundError
from jointspace.store.registry import BackendOps, StoreOptions


def _open(location: str, readonly: bool, options: StoreOptions) -> Any:
    from jointspace.store.qdrant.location import connect, parse_location, translated
    from jointspace.store.qdrant.store import QdrantStore

    target = parse_location(location)
    client = connect(target, options)
    try:
        with translated(target):
            if not client.collection_exists(target.name):
                raise CollectionNotFoundError(
                    f"no collection at {target.label}",
                    hint=f"create one with `jointspace index SOURCE -c {target.label}`")
            return QdrantStore(target, client, readonly=readonly, options=options)
    except BaseException:
        client.close()
        raise


def _create(location: str, model: str, dim: int, options: StoreOptions) -> Any:
    from jointspace.store.qdrant.location import connect, parse_location, translated
    from jointspace.store.qdrant.setup import create_collection
    from jointspace.store.qdrant.store import QdrantStore

    target = parse_location(location)
    client = connect(target, options)
    try:
        with translated(target):
            create_collection(client, target, model, dim, options)
            store = QdrantStore(target, client, options=options)
        store.check_model(model, dim)
        return store
    except BaseException:
        client.close()
        raise


def _exists(location: str, options: StoreOptions) -> bool:
    from jointspace.store.qdrant.location import connect, parse_location, translated

    target = parse_location(location)
    client = connect(target, options)
    try:
        with translated(target):
            return bool(client.collection_exists(target.name))
    finally:
        client.close()


def _check(location: str, *, repair: bool, lock_timeout: float, options: StoreOptions) -> Any:
    from jointspace.store.qdrant.check import check_qdrant

    return check_qdrant(location, options)


BACKEND = BackendOps(open=_open, create=_create, exists=_exists, check=_check)
