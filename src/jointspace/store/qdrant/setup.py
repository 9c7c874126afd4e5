"""Creating a jointspace collection in Qdrant: vectors, sparse BM25, metadata, payload indexes."""

from __future__ import annotations

from typing import Any

from jointspace.errors import BadInputError
from jointspace.store.qdrant.companion import Companion
from jointspace.store.qdrant.location import Target
from jointspace.store.registry import StoreOptions

INDEX_KINDS = ("flat", "hnsw")  # flat: every dense search exact; hnsw: Qdrant's HNSW
KEYWORD_FIELDS = ("key", "source", "kind")


def create_collection(client: Any, target: Target, model: str, dim: int,
                      options: StoreOptions) -> None:
    """Create ``target`` for ``model`` unless it exists (then the caller checks its model)."""
    from qdrant_client import models
    from qdrant_client.http.exceptions import UnexpectedResponse

    from jointspace.store.qdrant.store import DENSE, FORMAT_VERSION, META_KEY, SPARSE

    if options.index not in INDEX_KINDS:
        raise BadInputError(f"index must be one of {INDEX_KINDS} on Qdrant")
    if options.index_dim is not None:
        raise BadInputError("--dim (a truncated index) is a local-collection option",
                            hint="index all dimensions on Qdrant, or use a local --collection DIR")
    if not client.collection_exists(target.name):
        extra = {k: v for k, v in (("shard_number", options.shards),
                                   ("replication_factor", options.replicas)) if v is not None}
        try:
            client.create_collection(
                target.name,
                vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.DOT)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(
                    modifier=models.Modifier.IDF)},
                metadata={META_KEY: {"model": model, "dim": dim, "format": FORMAT_VERSION,
                                     "index": options.index}},
                **extra)
        except UnexpectedResponse as exc:
            if exc.status_code != 409:  # 409: another process created it first; fine
                raise
        if target.path is None:  # local mode has no payload indexes (it scans)
            for field in KEYWORD_FIELDS:
                client.create_payload_index(target.name, field,
                                            models.PayloadSchemaType.KEYWORD, wait=True)
    Companion(client, target.name).create(options.replicas)
