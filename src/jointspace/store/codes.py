"""Compressed index kinds: codes searched first, a shortlist rescored with full-precision vectors.

``int8``: one byte per dimension (faiss scalar quantizer, a per-dimension range learnt from the
vectors), inner product against the float query. ``binary``: one bit per dimension (the sign),
Hamming distance between sign codes. Either returns a shortlist of ``shortlist(kind, k)`` ids,
which the caller rescores exactly with the float vectors kept in the SQLite truth; the index in
memory holds only the codes (4x and 32x smaller than float32).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

INT8 = "int8"
BINARY = "binary"
CODE_KINDS = (INT8, BINARY)
# Shortlist = k x this, at least MIN_SHORTLIST (benchmarks/compressed.py measures what it buys).
OVERSAMPLE = {INT8: 4, BINARY: 20}
MIN_SHORTLIST = 100
TRAIN_SAMPLE = 100_000  # vectors the int8 ranges are learnt from
RETRAIN_BELOW = 50_000  # an int8 quantizer learnt from fewer is relearnt when the index doubles
_RANGE_MARGIN = 0.1  # widen each learnt range by this fraction: later vectors clip less
SPLIT_MIN = 1 << 18  # int8 indexes of this many vectors or more are scanned by several threads

Fetch = Callable[[np.ndarray], np.ndarray]  # ids -> their float vectors, in that order


def new_index(kind: str, dim: int):
    """An empty id-mapped faiss index holding ``kind`` codes."""
    import faiss

    if kind == INT8:
        base = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_8bit,
                                          faiss.METRIC_INNER_PRODUCT)
        base.sq.rangestat_arg = _RANGE_MARGIN
        return faiss.IndexIDMap2(base)
    return faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(8 * _nbytes(dim)))


def train(index, vectors: np.ndarray) -> int:
    """Learn the int8 ranges from (a sample of) ``vectors``; returns how many were used."""
    import faiss

    if len(vectors) > TRAIN_SAMPLE:
        rows = np.random.default_rng(0).choice(len(vectors), TRAIN_SAMPLE, replace=False)
        vectors = vectors[np.sort(rows)]
    base = faiss.downcast_index(index.index)
    base.train(np.ascontiguousarray(vectors, np.float32))
    return len(vectors)


def encode(kind: str, index, vectors: np.ndarray) -> np.ndarray:
    """What ``index`` stores for ``vectors``: int8 codes or packed sign bits (uint8 rows)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, np.float32)
    if kind == BINARY:
        return np.packbits(vectors > 0, axis=1)
    return faiss.downcast_index(index.index).sa_encode(vectors)


def stored_codes(kind: str, index) -> np.ndarray:
    """The codes the index holds, one row per stored vector, in storage order."""
    import faiss

    if kind == BINARY:
        base = faiss.downcast_IndexBinary(index.index)
        return faiss.vector_to_array(base.xb).reshape(index.ntotal, base.code_size)
    base = faiss.downcast_index(index.index)
    return faiss.vector_to_array(base.codes).reshape(index.ntotal, base.code_size)


def add(kind: str, index, ids: np.ndarray, vectors: np.ndarray) -> None:
    payload = encode(kind, index, vectors) if kind == BINARY else vectors
    index.add_with_ids(np.ascontiguousarray(payload), np.asarray(ids, np.int64))


def shortlist(kind: str, k: int, prefix: bool = False) -> int:
    """How many candidates to rescore for ``k`` results; twice as many from a prefix."""
    return max(k * OVERSAMPLE.get(kind, 1) * (1 + prefix), MIN_SHORTLIST)


def truncate(vectors: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` dimensions, renormalised (Matryoshka-trained models keep most quality)."""
    head = np.ascontiguousarray(vectors[:, :dim], np.float32)
    norms = np.linalg.norm(head, axis=1, keepdims=True)
    return head / np.where(norms > 0, norms, 1)


class SplitScan:
    """An int8 index's codes cut into contiguous parts, each scanned by a thread of its own.

    faiss scans the codes for one query on one thread (its threads split the queries), so a single
    query at 1M x 512 used one core of two. The parts are copies of the codes (the index keeps its
    own for updates and snapshots): the memory of the codes twice over, for about half the latency
    on two cores (benchmarks/scale.py). Built on the first search, dropped on any change.
    """

    def __init__(self, index, parts: int) -> None:
        import faiss

        base = faiss.downcast_index(index.index)
        ids = faiss.vector_to_array(index.id_map)
        codes = faiss.rev_swig_ptr(base.codes.data(), index.ntotal * base.code_size)
        codes = codes.reshape(index.ntotal, base.code_size)
        bounds = np.linspace(0, index.ntotal, parts + 1).astype(np.int64)
        self.parts = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            part = faiss.IndexScalarQuantizer(base.d, base.sq.qtype, base.metric_type)
            part.sq = base.sq
            part.is_trained = True
            part.add_sa_codes(np.ascontiguousarray(codes[a:b]))
            self.parts.append((ids[a:b].astype(np.int64), part))
        self._pool = ThreadPoolExecutor(parts, thread_name_prefix="jointspace-int8")

    def search(self, probe: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The top ``m`` (approximate scores, ids) per query over all the parts."""
        futures = [self._pool.submit(part.search, probe, min(m, part.ntotal))
                   for _, part in self.parts]
        scores, ids = [], []
        for (part_ids, _), future in zip(self.parts, futures):
            d, rows = future.result()
            scores.append(d)
            ids.append(np.where(rows >= 0, part_ids[np.maximum(rows, 0)], -1))
        from jointspace.store.faiss_index import _topk

        scores, ids = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
        return _topk(scores, ids, min(m, scores.shape[1]))

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def split_parts(kind: str, ntotal: int) -> int:
    """How many threads should scan an index of ``ntotal`` codes for one query (1: no split)."""
    if kind != INT8 or ntotal < SPLIT_MIN:
        return 1
    threads = os.environ.get("JOINTSPACE_FAISS_THREADS", "").strip()
    return max(1, int(threads) if threads.isdigit() else os.cpu_count() or 1)


def search(
    kind: str, index, queries: np.ndarray, k: int, fetch: Fetch,
    allowed: np.ndarray | None = None, probe: np.ndarray | None = None,
    split: SplitScan | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k (exact scores, ids): codes pick a shortlist, ``fetch``'s vectors rank it.

    With ``allowed``, only those ids are candidates; when they fit in the shortlist they are all
    rescored, so small filtered searches are exact. ``probe``: the queries as the codes see them
    (a truncated prefix), ``queries`` by default.
    """
    import faiss

    m = shortlist(kind, k, probe is not None)
    probe = queries if probe is None else probe
    if allowed is not None and len(allowed) <= m:
        cand = np.broadcast_to(np.asarray(allowed, np.int64), (len(queries), len(allowed)))
    else:
        m = min(m, index.ntotal if allowed is None else len(allowed))
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed,
                                                                                 np.int64)))
        probe = encode(kind, index, probe) if kind == BINARY else probe
        if split is not None and allowed is None:
            _, cand = split.search(probe, m)
        else:
            _, cand = index.search(probe, m, params=params)
    return rescore(queries, cand, fetch, k)


def rescore(
    queries: np.ndarray, cand: np.ndarray, fetch: Fetch, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inner products of each query with its candidate ids (-1 = none), best ``k`` kept."""
    from jointspace.store.faiss_index import _topk

    valid = cand >= 0
    uniq = np.unique(cand[valid])
    vecs = fetch(uniq)
    if len(vecs) != len(uniq):
        raise RuntimeError("the truth lacks vectors of ids the index holds; run "
                           "`jointspace check COLLECTION --repair`")
    scores = np.full(cand.shape, -np.inf, np.float32)
    rows, cols = np.nonzero(valid)
    pos = np.searchsorted(uniq, cand[rows, cols])
    scores[rows, cols] = np.einsum("nd,nd->n", queries[rows], vecs[pos])
    ids = np.where(valid, cand, -1)
    return _topk(scores, ids, min(k, cand.shape[1]))


def _nbytes(dim: int) -> int:
    return (dim + 7) // 8
