"""Importing precomputed embeddings from a parquet manifest, streamed in record batches.

The vector column is a fixed-size list or a list of floats; every vector must have the
collection's dim (a fixed-size list of another size is refused before anything is written; a
list row of the wrong length, null, non-finite or zero is an error record). Vectors are
L2-normalised on the way in. Rows are keyed as ``index MANIFEST`` keys them (an image row by its
resolved path, a text row by ``MANIFEST#ID``), so importing again updates rather than duplicates;
other columns become metadata. Memory stays at one batch of rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import BadInputError, ModelMismatchError
from jointspace.ingest.items import FileError
from jointspace.store.base import NewItem, Store, WriteBatch

ProgressFn = Callable[[int, int], None]


@dataclass
class ImportReport:
    added: int = 0  # rows written (new or replaced)
    failed: int = 0
    seconds: float = 0.0
    errors: list[FileError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": 0, "unchanged": 0, "removed": 0,
                "failed": self.failed, "seconds": round(self.seconds, 3),
                "errors": [e.to_dict() for e in self.errors[:1000]]}


@dataclass(frozen=True)
class Columns:
    vector: str
    id: str | None = None
    text: str | None = None
    path: str | None = None


def import_vectors(store: Store, manifest: str | os.PathLike, columns: Columns, *,
                   batch: int = 8192, lock_timeout: float = 0.0,
                   progress: ProgressFn | None = None) -> ImportReport:
    """Upsert every row of ``manifest`` with its precomputed vector into ``store``."""
    start = time.perf_counter()
    manifest = Path(manifest)
    pf = open_manifest(manifest)
    columns = _with_defaults(columns, pf.schema_arrow.names)
    _check_columns(pf.schema_arrow, columns, store.dim, manifest)
    report, done = ImportReport(), 0
    source = str(manifest.resolve())
    with store.writer(lock_timeout):
        for rb in pf.iter_batches(batch_size=batch):
            upserts = _rows(rb, columns, store.dim, source, done, report)
            store.write(WriteBatch(upserts=upserts))
            report.added += len(upserts)
            done += rb.num_rows
            if progress:
                progress(done, pf.metadata.num_rows)
        store.save_index()
    report.seconds = time.perf_counter() - start
    return report


def open_manifest(manifest: str | os.PathLike):
    """The parquet file, opened for streaming; BadInputError if it cannot be read as parquet."""
    import pyarrow.parquet as pq

    try:
        # no pre-buffering: pyarrow would otherwise hold every column chunk it has read
        # (the whole file, by the end) rather than one batch at a time
        return pq.ParquetFile(manifest, pre_buffer=False, buffer_size=1 << 20)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise BadInputError(f"cannot read {manifest} as parquet: {exc}") from exc


def _with_defaults(columns: Columns, names: list[str]) -> Columns:
    """Unnamed id/text/path columns picked by the names ``index MANIFEST`` recognises."""
    from jointspace.ingest.sources import ID_COLUMNS, PATH_COLUMNS, TEXT_COLUMNS

    def pick(given: str | None, candidates: tuple[str, ...]) -> str | None:
        return given or next((c for c in candidates if c in names and c != columns.vector), None)

    return Columns(columns.vector, pick(columns.id, ID_COLUMNS), pick(columns.text, TEXT_COLUMNS),
                   pick(columns.path, PATH_COLUMNS))


def _check_columns(schema: Any, columns: Columns, dim: int, manifest: Path) -> None:
    import pyarrow as pa

    for name in (c for c in (columns.vector, columns.id, columns.text, columns.path) if c):
        if schema.get_field_index(name) < 0:
            raise BadInputError(f"{manifest} has no column {name!r} (columns: "
                                f"{', '.join(schema.names)})")
    vtype = schema.field(columns.vector).type
    if not (pa.types.is_list(vtype) or pa.types.is_large_list(vtype)
            or pa.types.is_fixed_size_list(vtype)) or not pa.types.is_floating(vtype.value_type):
        raise BadInputError(f"column {columns.vector!r} is {vtype}, not a list of floats",
                            hint="store vectors as fixed_size_list<float32>[dim] or list<float>")
    if pa.types.is_fixed_size_list(vtype) and vtype.list_size != dim:
        raise ModelMismatchError(f"{columns.vector!r} holds {vtype.list_size}-d vectors; the "
                                 f"collection's model has dim {dim}",
                                 hint="import into a collection created with the model that "
                                      "computed these vectors")


def _rows(rb: Any, columns: Columns, dim: int, source: str, first: int,
          report: ImportReport) -> list[NewItem]:
    vecs, ok = _vectors(rb.column(columns.vector), dim)
    n = rb.num_rows
    texts = _strings(rb, columns.text, n)
    paths = _strings(rb, columns.path, n)
    ids = rb.column(columns.id).to_pylist() if columns.id else range(first, first + n)
    meta_cols = [c for c in rb.schema.names if c not in (columns.vector, columns.text,
                                                          columns.path)]
    metas = rb.select(meta_cols).to_pylist() if meta_cols else [{}] * n
    base = Path(source).parent
    out = []
    for row in range(n):
        if not ok[row]:
            report.failed += 1
            report.errors.append(FileError(f"{source}#row{first + row}",
                                           f"vector is null, not {dim} numbers, non-finite or 0"))
            continue
        path = paths[row]
        if path:
            path = os.path.normpath(path if os.path.isabs(path) else base / path)
        out.append(NewItem(key=path or f"{source}#{ids[row]}", source=source,
                           kind="image" if path else "text", vector=vecs[row], path=path,
                           text=texts[row] if texts[row] is not None or path else "",
                           metadata=metas[row]))
    return out


def _vectors(col: Any, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) unit float32 rows and which rows are usable."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(col)
    lengths = (np.full(n, col.type.list_size) if pa.types.is_fixed_size_list(col.type)
               else pc.list_value_length(col).fill_null(-1).to_numpy(zero_copy_only=False))
    ok = (lengths == dim) & ~col.is_null().to_numpy(zero_copy_only=False)
    out = np.zeros((n, dim), np.float32)
    if ok.any():
        good = col if ok.all() else col.filter(pa.array(ok))
        flat = good.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        out[ok] = flat.reshape(-1, dim)
    norms = np.linalg.norm(out, axis=1)
    ok &= np.isfinite(norms) & (norms > 0)
    out[ok] /= norms[ok, None]
    return out, ok


def _strings(rb: Any, name: str | None, n: int) -> list[str | None]:
    if not name:
        return [None] * n
    return [None if v is None else "\n".join(map(str, v)) if isinstance(v, list) else str(v)
            for v in rb.column(name).to_pylist()]
