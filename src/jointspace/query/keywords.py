"""A collection's keyword (BM25) index: built from the SQLite truth, kept in step with its seq.

bm25s cannot add or delete documents, so the index is rebuilt when the collection has changed
since it was built. It is cached in memory and, when the collection is writable, on disk under
``DIR/keywords/`` tagged with the seq it reflects.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from jointspace.errors import JointspaceError
from jointspace.query.bm25 import KeywordIndex, keyword_text
from jointspace.store.sqlite import merged_metadata

KEYWORD_DIR = "keywords"


class CollectionKeywords:
    """Lazily built keyword index over a store's item texts and string metadata."""

    def __init__(self, store) -> None:
        self.store = store
        self._index: KeywordIndex | None = None
        self._seq = -1
        self._lock = threading.Lock()

    def index(self) -> KeywordIndex:
        with self._lock:
            seq = self.store.truth.seq()
            if self._index is None or self._seq != seq:
                self._index = self._load(seq) or self._build(seq)
                self._seq = seq
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

    def _build(self, seq: int) -> KeywordIndex:
        with self.store.truth.transaction() as conn:
            seq = self.store.truth.seq(conn)
            rows = conn.execute("SELECT id, text, metadata, annotations FROM items ORDER BY id")
            rows = rows.fetchall()
        index = KeywordIndex.build([r[0] for r in rows],
                                   [keyword_text(r[1], merged_metadata(r[2], r[3])) for r in rows])
        if not self.store.truth.readonly:
            try:
                directory = self.store.directory / KEYWORD_DIR
                index.save(directory)
                (directory / "seq").write_text(str(seq))
            except OSError:
                pass  # a cache only: a read-only or full disk just means rebuilding next time
        return index

    def _load(self, seq: int) -> KeywordIndex | None:
        directory: Path = self.store.directory / KEYWORD_DIR
        try:
            if int((directory / "seq").read_text()) != seq:
                return None
            return KeywordIndex.load(directory)
        except (OSError, ValueError, JointspaceError):  # missing, stale or damaged: rebuild
            return None
