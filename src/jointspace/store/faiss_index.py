"""The search structure: a faiss index keyed by SQLite item ids, snapshotted to disk.

The snapshot (``index-<seq>.faiss`` + ``index.json`` naming it, with its seq and checksum) is only a
cache: both are written atomically (temp file, fsync, rename), ``index.json`` last, and anything wrong
with the snapshot means "rebuild from SQLite".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jointspace.runtime import configure_faiss

FLAT = "flat"
HNSW = "hnsw"
INDEX_KINDS = (FLAT, HNSW)
INDEX_META = "index.json"
_BLOCK_FLOATS = 1 << 24  # scores computed per block in flat search: 64 MiB of float32


class VectorIndex:
    """An id-mapped inner-product index (exact flat by default, HNSW optional)."""

    def __init__(self, dim: int, kind: str = FLAT, hnsw_m: int = 32) -> None:
        import faiss

        configure_faiss()
        self.dim, self.kind, self.hnsw_m = dim, kind, hnsw_m
        if kind == FLAT:
            base = faiss.IndexFlatIP(dim)
        elif kind == HNSW:
            base = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efSearch = 128
        else:
            raise ValueError(f"unknown index kind {kind!r}; use one of {INDEX_KINDS}")
        self.index = faiss.IndexIDMap2(base)
        self.seq = 0
        self.stale = False  # HNSW cannot delete in place: rebuild before next search
        self._id_cache: np.ndarray | None = None  # storage row -> item id
        self._order_cache: np.ndarray | None = None  # argsort of the ids, for filters

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    def apply(self, ids: np.ndarray, vectors: np.ndarray, deleted: np.ndarray) -> None:
        """Replay changes: (re)insert ``ids`` with ``vectors``, drop ``deleted``."""
        import faiss

        self._id_cache = self._order_cache = None
        drop = np.concatenate([deleted, ids]).astype(np.int64)
        if len(drop) and self.ntotal:
            if self.kind == HNSW:
                self.stale = self.stale or bool(_present(self.index, drop))
            else:
                self.index.remove_ids(faiss.IDSelectorBatch(drop))
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), ids)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; ``allowed`` restricts to those ids, exactly."""
        queries = np.ascontiguousarray(queries, np.float32)
        k = min(k, self.ntotal if allowed is None else len(allowed))
        if k == 0:
            return _empty(len(queries))
        if self.kind == FLAT:
            return self._flat_search(queries, k, allowed)
        if allowed is None:
            return self.index.search(queries, k)
        # HNSW with a selector is approximate: score the allowed vectors exactly instead.
        vecs = np.vstack([self.index.reconstruct(int(i)) for i in allowed])
        return _topk(queries @ vecs.T, allowed, k)

    def _flat_search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        # One query against a flat index is a matrix-vector product: bound by memory bandwidth.
        # BLAS over faiss's own storage (a view, no copy) reaches that bound; IndexFlatIP's
        # single-query scan ran ~3x slower (benchmarks/scale.py).
        import faiss

        base = faiss.downcast_index(self.index.index)
        vectors = faiss.rev_swig_ptr(base.get_xb(), self.ntotal * self.dim)
        vectors = vectors.reshape(self.ntotal, self.dim)
        ids = self._ids()
        if allowed is not None:
            rows = self._rows_of(np.asarray(allowed, np.int64))
            return _topk(queries @ vectors[rows].T, ids[rows], k)
        best_s = np.full((len(queries), 0), -np.inf, np.float32)
        best_i = np.zeros((len(queries), 0), np.int64)
        step = max(1, _BLOCK_FLOATS // max(1, len(queries)))  # bound the score matrix
        for start in range(0, self.ntotal, step):
            scores = queries @ vectors[start:start + step].T
            block_s, block_i = _topk(scores, ids[start:start + step], min(k, scores.shape[1]))
            best_s, best_i = _topk_merge(best_s, best_i, block_s, block_i, k)
        return best_s, best_i

    def _ids(self) -> np.ndarray:
        if self._id_cache is None:
            self._id_cache = _id_map(self.index)
        return self._id_cache

    def _rows_of(self, allowed: np.ndarray) -> np.ndarray:
        """Storage rows of ``allowed`` ids (all present: the filter reads the same snapshot)."""
        if self._order_cache is None:
            self._order_cache = np.argsort(self._ids(), kind="stable")
        ids, order = self._ids(), self._order_cache
        pos = np.searchsorted(ids, allowed, sorter=order)
        pos = np.clip(pos, 0, max(len(order) - 1, 0))
        rows = order[pos]
        return rows[ids[rows] == allowed]

    def save(self, directory: Path) -> None:
        """Snapshot atomically: write ``index-<seq>.faiss``, then point ``index.json`` at it."""
        import faiss

        name = f"index-{self.seq:012d}.faiss"
        # straight to the file, then hashed from it: no in-memory copy of a multi-GB index
        digest = _atomic_write(directory / name, lambda tmp: faiss.write_index(self.index, tmp))
        meta = {"file": name, "sha256": digest, "seq": self.seq,
                "dim": self.dim, "kind": self.kind, "ntotal": self.ntotal}
        _atomic_write(directory / INDEX_META, json.dumps(meta).encode())  # the commit point
        # older snapshots, and temp files of saves that were killed mid-write
        stale = [*directory.glob("index-*.faiss"), *directory.glob("index*.tmp")]
        for old in stale:
            if old.name != name:
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: Path, dim: int, kind: str) -> VectorIndex | None:
        """The snapshot, or None if it is missing, damaged or does not match."""
        import faiss

        configure_faiss()
        try:
            meta = json.loads((directory / INDEX_META).read_text())
            raw = (directory / Path(meta["file"]).name).read_bytes()
            if hashlib.sha256(raw).hexdigest() != meta["sha256"]:
                return None
            index = faiss.deserialize_index(np.frombuffer(raw, dtype=np.uint8))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None
        if meta.get("dim") != dim or meta.get("kind") != kind or index.d != dim:
            return None
        if index.ntotal != meta.get("ntotal"):
            return None
        out = cls.__new__(cls)
        out.dim, out.kind, out.hnsw_m, out.index = dim, kind, 32, index
        out.seq, out.stale = int(meta["seq"]), False
        out._id_cache = out._order_cache = None
        return out


def _present(index, ids: np.ndarray) -> int:
    have = set(_id_map(index).tolist())
    return sum(int(i) in have for i in ids)


def _id_map(index) -> np.ndarray:
    import faiss

    return faiss.vector_to_array(index.id_map)


def _topk(scores: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of each row of ``scores``, sorted; ``ids`` is per column (1-D) or per cell."""
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    cols = np.take_along_axis(part, order, axis=1)
    picked = ids[cols] if ids.ndim == 1 else np.take_along_axis(ids, cols, axis=1)
    return np.take_along_axis(top, order, axis=1), picked


def _topk_merge(a_s, a_i, b_s, b_i, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge two per-query top lists into the best ``k``."""
    scores, ids = np.concatenate([a_s, b_s], axis=1), np.concatenate([a_i, b_i], axis=1)
    return _topk(scores, ids, min(k, scores.shape[1]))


def _empty(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)


def _atomic_write(path: Path, data: bytes | Callable[[str], None]) -> str:
    """Write ``data`` (bytes, or a function writing the file it is given) atomically and
    durably; returns the file's sha256."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        if callable(data):
            try:
                data(str(tmp))
            except RuntimeError as exc:  # faiss reports a failed write (disk full...) this way
                raise OSError(f"writing {tmp} failed: {exc}") from exc
        else:
            tmp.write_bytes(data)
        digest = hashlib.sha256()
        with open(tmp, "rb+") as f:
            while chunk := f.read(1 << 24):
                digest.update(chunk)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_file():  # e.g. disk full: do not leave a partial file taking the space
            tmp.unlink()
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return digest.hexdigest()
