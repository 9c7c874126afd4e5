"""A collection's keyword (BM25) index, for stores without one of their own; kept in step with seq.

bm25s cannot add or delete documents, so the index is rebuilt when the collection has changed
since it was built. It is built from ``store.keyword_inputs()``, cached in memory and, when the
store offers a cache directory, on disk under ``DIR/keywords/`` tagged with the seq it reflects
(written only when the store is writable).
"""

from __future__ import annotations

import threading

import numpy as np

from jointspace.errors import JointspaceError
from jointspace.query.bm25 import KeywordIndex
from jointspace.store.base import Store

KEYWORD_DIR = "keywords"


class CollectionKeywords:
    """Lazily built keyword index over a store's item texts and string metadata."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._index: KeywordIndex | None = None
        self._seq = -1
        self._lock = threading.Lock()

    def index(self) -> KeywordIndex:
        with self._lock:
            seq = self.store.seq()
            if self._index is None or self._seq != seq:
                self._index, self._seq = self._load(seq) or self._build()
            return self._index

    def search(self, query: str, depth: int, allowed: np.ndarray | None) -> tuple[list, np.ndarray]:
        """Top ``depth`` (ids, bm25 scores) with score > 0, restricted to ``allowed`` ids."""
        index = self.index()
        if len(index) == 0:
            return [], np.zeros(0, np.float32)
        scores = index.scores(query)
        ids = np.asarray(index.ids, dtype=np.int64)
        keep = scores > 0
        if allowed is not None:
            keep &= np.isin(ids, allowed)
        ids, scores = ids[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")[:depth]
        return ids[order].tolist(), scores[order]

    def _build(self) -> tuple[KeywordIndex, int]:
        inputs = self.store.keyword_inputs()
        index = KeywordIndex.build(inputs.ids, inputs.texts)
        cache = self.store.cache_dir()
        if cache is not None and not self.store.readonly:
            try:
                directory = cache / KEYWORD_DIR
                index.save(directory)
                (directory / "seq").write_text(str(inputs.seq))
            except OSError:
                pass  # a cache only: a read-only or full disk just means rebuilding next time
        return index, inputs.seq

    def _load(self, seq: int) -> tuple[KeywordIndex, int] | None:
        cache = self.store.cache_dir()
        if cache is None:
            return None
        directory = cache / KEYWORD_DIR
        try:
            if int((directory / "seq").read_text()) != seq:
                return None
            return KeywordIndex.load(directory), seq
        except (OSError, ValueError, JointspaceError):  # missing, stale or damaged: rebuild
            return None
