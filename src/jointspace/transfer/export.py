"""``export --format parquet``: a collection as one parquet file, written page by page.

Columns: ``id`` (int64), ``key``, ``kind``, ``path``, ``text`` (strings), ``metadata`` (JSON
text: the source's metadata with annotations merged over it, as search results show it) and
``vector`` (fixed_size_list<float32>[dim]). Memory stays at one page whatever the size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.store.base import canonical_json, merged_metadata
from jointspace.store.registry import StoreOptions, open_store

FORMATS = ("parquet",)


def export_parquet(location: str, out: str | os.PathLike, *, options: StoreOptions | None = None,
                   batch: int = 8192) -> dict[str, Any]:
    """Write the collection at ``location`` to ``out``; returns what was written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = open_store(location, readonly=True, options=options)
    out = Path(out)
    tmp = out.with_name(out.name + ".part")
    rows = 0
    try:
        schema = pa.schema([("id", pa.int64()), ("key", pa.string()), ("kind", pa.string()),
                            ("path", pa.string()), ("text", pa.string()),
                            ("metadata", pa.string()),
                            ("vector", pa.list_(pa.float32(), store.dim))])
        with pq.ParquetWriter(tmp, schema) as writer:
            for page in store.scan_items(batch):
                vecs = np.stack([it.vector for it in page.items]).astype(np.float32, copy=False)
                table = pa.table({
                    "id": pa.array(page.ids, pa.int64()),
                    "key": [it.key for it in page.items],
                    "kind": [it.kind for it in page.items],
                    "path": pa.array([it.path for it in page.items], pa.string()),
                    "text": pa.array([it.text for it in page.items], pa.string()),
                    "metadata": [canonical_json(merged_metadata(it.metadata, notes))
                                 for it, notes in zip(page.items, page.annotations)],
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(vecs.ravel()),
                                                                store.dim),
                }, schema=schema)
                writer.write_table(table)
                rows += len(page.ids)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        store.close()
    return {"collection": store.location, "out": str(out), "rows": rows, "dim": store.dim,
            "model": store.model, "format": "parquet"}
