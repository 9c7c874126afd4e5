"""The search structure: a faiss index keyed by SQLite item ids, snapshotted to disk.

The snapshot (``index-<seq>.faiss`` + ``index.json`` naming it, with its seq and checksum) is only a
cache: both are written atomically (temp file, fsync, rename), ``index.json`` last, and anything wrong
with the snapshot means "rebuild from SQLite".

A flat index is snapshotted in its own aligned layout (``flat_file``: ids and float32 vectors),
the other kinds in faiss's format. Opening must not read a large snapshot whole (a cold search of
a 1M-item collection would spend seconds reading and hashing 2 GB): a flat snapshot of
``MMAP_MIN_BYTES`` or more is memory-mapped in place after a spot check (its size, and a hash of
its first and last MiB and 64 blocks spread through it) and searched as numpy views, with no faiss
index behind it; a large int8 snapshot is mapped the same way by faiss (``IO_FLAG_MMAP_IFC``), and
so is a large hnsw one's float storage (its graph is read: 1M x 512, 10.6 s -> ~3 s to open);
smaller ones are read and fully hashed. A mapped index is read-only: the first
change to it copies it into a faiss index in memory. ``jointspace check`` compares every indexed
vector with SQLite, so damage the spot check misses is still found there.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from jointspace.runtime import configure_faiss
from jointspace.store import codes, flat_file
from jointspace.store.codes import BINARY, CODE_KINDS, INT8, Fetch
from jointspace.store.durable import fsync_dir

FLAT = "flat"
HNSW = "hnsw"
INDEX_KINDS = (FLAT, HNSW, INT8, BINARY)
INDEX_META = "index.json"
MMAP_MIN_BYTES = 64 * 1024 * 1024
_SPOT_EDGE = 1 << 20  # bytes hashed at each end
_SPOT_BLOCKS, _SPOT_BLOCK = 64, 4096
_BLOCK_FLOATS = 1 << 24  # scores computed per block in flat search: 64 MiB of float32


class VectorIndex:
    """An id-mapped inner-product index: exact flat (default), HNSW, or int8/binary codes.

    The code kinds hold no float vectors: their searches take a ``fetch`` callable giving the
    exact vectors of a shortlist (``codes.search``). With ``prefix`` (Matryoshka truncation) any
    kind indexes the renormalised first ``prefix`` dimensions and rescores its shortlist likewise.
    """

    def __init__(self, dim: int, kind: str = FLAT, hnsw_m: int = 32,
                 prefix: int | None = None) -> None:
        import faiss

        configure_faiss()
        self.dim, self.kind, self.hnsw_m, self.prefix = dim, kind, hnsw_m, prefix
        width = self.width
        if kind == FLAT:
            base = faiss.IndexFlatIP(width)
        elif kind == HNSW:
            base = faiss.IndexHNSWFlat(width, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efSearch = 128
        elif kind not in CODE_KINDS:
            raise ValueError(f"unknown index kind {kind!r}; use one of {INDEX_KINDS}")
        self.index = (codes.new_index(kind, width) if kind in CODE_KINDS
                      else faiss.IndexIDMap2(base))
        self.seq = 0
        self.trained = 0  # int8: how many vectors its ranges were learnt from
        # rebuild before the next search: HNSW cannot delete in place, and int8 ranges learnt
        # from a few vectors are relearnt from all of them as the index doubles
        self.stale = False
        self.mapped: Path | None = None  # the snapshot file this index is a read-only map of
        # a flat index loaded from its snapshot: (ids, vectors) arrays, and no faiss index
        # (self.index is None) until the first change
        self.arrays: tuple[np.ndarray, np.ndarray] | None = None
        self._split: codes.SplitScan | None = None  # int8 codes split over threads, for search
        self._searches = 0  # searches so far (the split scan starts with the second)
        self._id_cache: np.ndarray | None = None  # storage row -> item id
        self._order_cache: np.ndarray | None = None  # argsort of the ids, for filters

    @property
    def ntotal(self) -> int:
        return len(self.arrays[0]) if self.arrays is not None else self.index.ntotal

    @property
    def width(self) -> int:
        """Dimensions the faiss index holds: the prefix, or all of them."""
        return self.prefix or self.dim

    def apply(self, ids: np.ndarray, vectors: np.ndarray, deleted: np.ndarray) -> None:
        """Replay changes: (re)insert ``ids`` with ``vectors``, drop ``deleted``."""
        import faiss

        if self.arrays is not None and (len(ids) or len(deleted)):
            # snapshot arrays cannot change: own a faiss index in memory first, copied from them
            # (a mapped file may be gone: a writer's newer snapshot replaced it)
            stored_ids, stored = self.arrays
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.width))
            self.index.add_with_ids(np.ascontiguousarray(stored, np.float32),
                                    np.asarray(stored_ids, np.int64))
            self.arrays, self.mapped = None, None
        elif self.mapped is not None and (len(ids) or len(deleted)):
            # a memory-mapped faiss index (int8 codes) cannot change: own a copy in memory first
            self.index = faiss.deserialize_index(faiss.serialize_index(self.index))
            self.mapped = None
        self._forget_caches()
        drop = np.concatenate([deleted, ids]).astype(np.int64)
        if len(drop) and self.ntotal:
            if self.kind == HNSW:
                self.stale = self.stale or bool(_present(self.index, drop))
            else:
                self.index.remove_ids(faiss.IDSelectorBatch(drop))
        self._add(ids, vectors)

    def fill(self, pages: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add a rebuild's (ids, vectors) pages to an empty index.

        int8 first gathers ``codes.TRAIN_SAMPLE`` vectors (or all) to learn its ranges from.
        """
        self._forget_caches()
        head_ids: list[np.ndarray] = []
        head_vecs: list[np.ndarray] = []
        held = 0
        for ids, vecs in pages:
            if self.kind == INT8 and held < codes.TRAIN_SAMPLE:
                head_ids.append(ids)
                head_vecs.append(vecs)
                held += len(ids)
                if held < codes.TRAIN_SAMPLE:
                    continue
                ids, vecs = np.concatenate(head_ids), np.concatenate(head_vecs)
            self._add(ids, vecs)
        if self.kind == INT8 and 0 < held < codes.TRAIN_SAMPLE:
            self._add(np.concatenate(head_ids), np.concatenate(head_vecs))

    def _add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        if self.prefix:
            vectors = codes.truncate(vectors, self.prefix)
        if self.kind == INT8:
            if not self.trained:
                self.trained = codes.train(self.index, vectors)
            elif self.trained < codes.RETRAIN_BELOW and self.ntotal + len(ids) >= 2 * self.trained:
                self.stale = True
        if self.kind in CODE_KINDS:
            codes.add(self.kind, self.index, ids, vectors)
        else:
            self.index.add_with_ids(np.ascontiguousarray(vectors, np.float32), ids)

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None,
        fetch: Fetch | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; ``allowed`` restricts to those ids, exactly.

        Code kinds need ``fetch`` (ids -> float vectors) to rescore their shortlist.
        """
        queries = np.ascontiguousarray(queries, np.float32)
        k = min(k, self.ntotal if allowed is None else len(allowed))
        if k == 0:
            return _empty(len(queries))
        if self.kind in CODE_KINDS or self.prefix:
            if fetch is None:
                raise ValueError(f"a {self.kind} index of {self.width} of {self.dim} dimensions "
                                 "rescores with the float vectors: pass fetch")
            probe = codes.truncate(queries, self.prefix) if self.prefix else queries
            if self.kind in CODE_KINDS:
                return codes.search(self.kind, self.index, queries, k, fetch, allowed, probe,
                                    self._split_scan() if allowed is None else None)
            m = codes.shortlist(self.kind, k, bool(self.prefix))
            if allowed is not None and len(allowed) <= m:
                cand = np.broadcast_to(np.asarray(allowed, np.int64), (len(queries), len(allowed)))
            else:
                _, cand = self._search_floats(probe, min(m, self.ntotal), allowed)
            return codes.rescore(queries, cand, fetch, k)
        return self._search_floats(queries, k, allowed)

    def _search_floats(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if allowed is not None:
            k = min(k, len(allowed))
        if self.kind == FLAT:
            return self._flat_search(queries, k, allowed)
        if allowed is None:
            return self.index.search(queries, k)
        # HNSW with a selector is approximate: score the allowed vectors exactly instead.
        vecs = np.vstack([self.index.reconstruct(int(i)) for i in allowed]).reshape(-1, self.width)
        return _topk(queries @ vecs.T, allowed, k)

    def _flat_search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        # One query against a flat index is a matrix-vector product: bound by memory bandwidth.
        # BLAS over the stored vectors (a view, no copy) reaches that bound; IndexFlatIP's
        # single-query scan ran ~3x slower at 1M x 512 (benchmarks/exact_search.py).
        ids, vectors = self._flat_arrays()
        if allowed is not None:
            rows = self._rows_of(np.asarray(allowed, np.int64))
            k = min(k, len(rows))  # an index missing items (being checked) holds fewer
            if k == 0:
                return _empty(len(queries))
            return _topk(queries @ vectors[rows].T, ids[rows], k)
        best_s = np.full((len(queries), 0), -np.inf, np.float32)
        best_i = np.zeros((len(queries), 0), np.int64)
        step = max(1, _BLOCK_FLOATS // max(1, len(queries)))  # bound the score matrix
        for start in range(0, self.ntotal, step):
            scores = queries @ vectors[start:start + step].T
            block_s, block_i = _topk(scores, ids[start:start + step], min(k, scores.shape[1]))
            best_s, best_i = _topk_merge(best_s, best_i, block_s, block_i, k)
        return best_s, best_i

    def _forget_caches(self) -> None:
        self._id_cache = self._order_cache = None
        if self._split is not None:
            self._split.close()
        self._split = None

    def _split_scan(self) -> codes.SplitScan | None:
        """The split scan, from the second search on: it copies the codes, which one query (a
        CLI search) would pay for and not get back."""
        parts = codes.split_parts(self.kind, self.ntotal)
        self._searches += 1
        if parts > 1 and self._split is None and self._searches > 1:
            self._split = codes.SplitScan(self.index, parts)
        return self._split if parts > 1 else None

    def _flat_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of a flat index: the snapshot's arrays, or views of faiss's storage."""
        import faiss

        if self.arrays is not None:
            return self.arrays
        base = faiss.downcast_index(self.index.index)
        vectors = faiss.rev_swig_ptr(base.get_xb(), self.ntotal * self.width)
        return self._ids(), vectors.reshape(self.ntotal, self.width)

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, what is stored for each): float vectors, or the codes of the code kinds."""
        import faiss

        if self.kind == FLAT:
            ids, vectors = self._flat_arrays()
            return np.array(ids, np.int64), np.array(vectors, np.float32)
        ids = _id_map(self.index).astype(np.int64)
        if self.kind in CODE_KINDS:
            return ids, codes.stored_codes(self.kind, self.index)
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexHNSW):
            inner = faiss.downcast_index(inner.storage)
        vecs = inner.reconstruct_n(0, inner.ntotal) if inner.ntotal else np.zeros((0, self.width))
        return ids, np.asarray(vecs, np.float32)

    def vectors_of(self, ids: np.ndarray) -> np.ndarray | None:
        """Copies of the float vectors a flat or hnsw index of all dimensions holds for ``ids``,
        in their order; None if one of them is not in it."""
        if self.kind not in (FLAT, HNSW) or self.prefix:
            raise ValueError(f"a {self.kind} index of {self.width} dimensions holds no full vectors")
        ids = np.asarray(ids, np.int64)
        if self.kind == HNSW:
            try:  # IndexIDMap2 maps each id to its stored vector
                return np.asarray(self.index.reconstruct_batch(ids), np.float32).reshape(-1, self.dim)
            except RuntimeError:  # an id it does not hold
                return None
        rows = self._rows_of(ids)
        if len(rows) != len(ids):
            return None
        return np.array(self._flat_arrays()[1][rows], np.float32)

    def encoded(self, vectors: np.ndarray) -> np.ndarray:
        """``vectors`` as :meth:`contents` would hold them."""
        if self.prefix:
            vectors = codes.truncate(vectors, self.prefix)
        if self.kind in CODE_KINDS:
            return codes.encode(self.kind, self.index, vectors)
        return np.asarray(vectors, np.float32)

    def _ids(self) -> np.ndarray:
        if self.arrays is not None:
            return self.arrays[0]
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
        if self.mapped is not None and self.mapped == directory / name:
            # this index is that file, unchanged: rewriting it would only risk the only copy
            # of folded vectors (and cost a 2 GB write at 1M items) for the same bytes
            return
        if self.kind == FLAT:
            def write(tmp: str) -> None:
                with open(tmp, "wb") as f:
                    flat_file.write(f, *self._flat_arrays())
        else:
            def write(tmp: str) -> None:
                (faiss.write_index_binary if self.kind == BINARY else faiss.write_index)(
                    self.index, tmp)
        # straight to the file, then hashed from it: no in-memory copy of a multi-GB index
        digest = _atomic_write(directory / name, write)
        path = directory / name
        meta = {"file": name, "sha256": digest, "seq": self.seq,
                "format": flat_file.FORMAT if self.kind == FLAT else "faiss",
                "dim": self.dim, "kind": self.kind, "ntotal": self.ntotal,
                "trained": self.trained, "prefix": self.prefix,
                "size": path.stat().st_size, "spot_sha256": _spot_file_hash(path)}
        _atomic_write(directory / INDEX_META, json.dumps(meta).encode())  # the commit point
        # older snapshots, and temp files of saves that were killed mid-write
        stale = [*directory.glob("index-*.faiss"), *directory.glob("index*.tmp")]
        for old in stale:
            if old.name != name:
                old.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: Path, dim: int, kind: str,
             prefix: int | None = None) -> VectorIndex | None:
        """The snapshot, or None if it is missing, damaged or does not match."""
        import faiss

        configure_faiss()
        mapped, arrays, index = None, None, None
        try:
            meta = json.loads((directory / INDEX_META).read_text())
            path = directory / Path(meta["file"]).name
            size = path.stat().st_size
            if kind == FLAT and meta.get("format") == flat_file.FORMAT:
                big = size >= MMAP_MIN_BYTES
                if big and not _spot_matches(path, size, meta):
                    return None
                if not big and file_hash(path) != meta["sha256"]:
                    return None
                arrays = flat_file.read(path, mapped=big)
                mapped = path if big else None
            elif kind in (INT8, HNSW) and size >= MMAP_MIN_BYTES and meta.get("spot_sha256"):
                if not _spot_matches(path, size, meta):
                    return None
                # int8 codes / hnsw's float storage mapped; the hnsw graph is still read
                index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
                mapped = path
            else:
                raw = path.read_bytes()
                if hashlib.sha256(raw).hexdigest() != meta["sha256"]:
                    return None
                deserialize = (faiss.deserialize_index_binary if kind == BINARY
                               else faiss.deserialize_index)
                index = deserialize(np.frombuffer(raw, dtype=np.uint8))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None
        width = prefix or dim
        width = 8 * ((width + 7) // 8) if kind == BINARY else width
        stored_d = arrays[1].shape[1] if arrays is not None else index.d
        ntotal = len(arrays[0]) if arrays is not None else index.ntotal
        if meta.get("dim") != dim or meta.get("kind") != kind or stored_d != width:
            return None
        if ntotal != meta.get("ntotal") or meta.get("prefix") != prefix:
            return None
        out = cls.__new__(cls)
        out.dim, out.kind, out.hnsw_m, out.index, out.prefix = dim, kind, 32, index, prefix
        out.seq, out.stale, out.mapped, out.arrays = int(meta["seq"]), False, mapped, arrays
        out.trained = int(meta.get("trained", 0))
        out._id_cache = out._order_cache = out._split = None
        out._searches = 0
        return out


def _spot_offsets(size: int) -> list[tuple[int, int]]:
    """(offset, length) of the parts of a file of ``size`` bytes the spot hash covers."""
    if size <= 2 * _SPOT_EDGE:
        return [(0, size)]
    step = (size - 2 * _SPOT_EDGE) // (_SPOT_BLOCKS + 1)
    middle = [(_SPOT_EDGE + (i + 1) * step, _SPOT_BLOCK) for i in range(_SPOT_BLOCKS)]
    return [(0, _SPOT_EDGE), *middle, (size - _SPOT_EDGE, _SPOT_EDGE)]


def _spot_matches(path: Path, size: int, meta: dict) -> bool:
    """The snapshot's size and spot hash are the ones its metadata recorded."""
    return size == meta.get("size") and _spot_file_hash(path) == meta.get("spot_sha256")


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 24):
            digest.update(chunk)
    return digest.hexdigest()


def _spot_file_hash(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        for offset, length in _spot_offsets(size):
            f.seek(offset)
            h.update(f.read(length))
    return h.hexdigest()


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
        digest = file_hash(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_file():  # e.g. disk full: do not leave a partial file taking the space
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return digest
