"""Keyword (BM25) search over texts.

:class:`KeywordIndex` wraps ``bm25s`` (lucene BM25, k1=1.5, b=0.75, English stop words and Snowball
stemmer via PyStemmer by default: the setup of MTEB's bm25s baseline). It maps its own row numbers
to caller ids (collection item ids, BEIR doc ids), so results come back as ``(ids, scores)`` like
a dense search, ready for :mod:`jointspace.query.fusion`.

bm25s cannot add or remove documents, so an index is rebuilt when its collection changes (building
is fast: ~1 s for 5,000 abstracts on one core).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import BadInputError, CorruptCollectionError
from jointspace.store.base import keyword_text  # noqa: F401 - re-exported: the keyword field

_META_FILE = "keyword_index.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class BM25Params:
    """How texts are tokenised and scored (saved with the index)."""

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"  # bm25s variants: robertson, atire, bm25l, bm25+, lucene
    stopwords: str | None = "en"  # a bm25s stop-word language code, or None
    stemmer: str | None = "english"  # a PyStemmer (Snowball) language, or None


class KeywordIndex:
    """A BM25 index over ``texts`` whose results are reported with the caller's ``ids``."""

    def __init__(self, ids: list[Hashable], params: BM25Params, bm25: Any | None) -> None:
        self.ids = ids
        self.params = params
        self._bm25 = bm25  # None when the index is empty
        self._stemmer: Any | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_words(self) -> bool:
        """Whether any indexed text has a word (otherwise every score is 0)."""
        return self._bm25 is not None

    @classmethod
    def build(
        cls, ids: Sequence[Hashable], texts: Sequence[str], params: BM25Params | None = None
    ) -> KeywordIndex:
        """Index ``texts[i]`` under ``ids[i]``."""
        import bm25s

        params = params or BM25Params()
        if len(ids) != len(texts):
            raise BadInputError(
                f"{len(ids)} ids but {len(texts)} texts", hint="pass one id per text"
            )
        if len(set(ids)) != len(ids):
            raise BadInputError("keyword index ids must be unique", hint="deduplicate the ids")
        index = cls(list(ids), params, None)
        if not texts:
            return index
        tokens = bm25s.tokenize(
            [t or "" for t in texts], stopwords=params.stopwords or [],
            stemmer=index._stem, show_progress=False,
        )
        if not tokens.vocab:  # no text has a single word: nothing to rank (bm25s cannot index it)
            return index
        bm25 = bm25s.BM25(k1=params.k1, b=params.b, method=params.method)
        bm25.index(tokens, show_progress=False)
        index._bm25 = bm25
        return index

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every indexed text for ``query`` (row order of ``ids``)."""
        if self._bm25 is None:
            return np.zeros(len(self.ids), np.float32)
        import bm25s

        tokens = bm25s.tokenize(
            [query], stopwords=self.params.stopwords or [], stemmer=self._stem,
            return_ids=False, show_progress=False,
        )[0]
        vocab = self._bm25.vocab_dict
        known = [t for t in tokens if t in vocab]
        if not known:
            return np.zeros(len(self.ids), np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def search(self, query: str, k: int = 10) -> tuple[list[Hashable], np.ndarray]:
        """The ``k`` best ids with score > 0 (texts sharing no term with the query are left out)."""
        s = self.scores(query)
        k = min(max(int(k), 0), int(np.count_nonzero(s > 0)))
        if k == 0:
            return [], np.zeros(0, np.float32)
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.lexsort((top, -s[top]))]  # score descending, then row order
        return [self.ids[i] for i in top], s[top]

    def save(self, directory: str | Path) -> None:
        """Write the index to ``directory`` (created if needed; existing index files replaced)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(d), show_progress=False)
        meta = {"format": FORMAT_VERSION, "ids": self.ids, "params": asdict(self.params),
                "empty": self._bm25 is None}
        tmp = d / (_META_FILE + ".tmp")
        tmp.write_text(json.dumps(meta), encoding="utf-8")
        tmp.replace(d / _META_FILE)

    @classmethod
    def load(cls, directory: str | Path) -> KeywordIndex:
        """Read an index written by :meth:`save`."""
        import bm25s

        d = Path(directory)
        try:
            meta = json.loads((d / _META_FILE).read_text(encoding="utf-8"))
            params = BM25Params(**meta["params"])
            bm25 = None if meta["empty"] else bm25s.BM25.load(str(d), show_progress=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CorruptCollectionError(
                f"keyword index in {str(d)!r} is missing or unreadable: {exc}",
                hint="rebuild it with KeywordIndex.build(ids, texts) and save it again",
            ) from exc
        if meta.get("format") != FORMAT_VERSION:
            raise CorruptCollectionError(
                f"keyword index format {meta.get('format')} is not {FORMAT_VERSION}",
                hint="rebuild the keyword index",
            )
        if bm25 is not None and bm25.scores["num_docs"] != len(meta["ids"]):
            raise CorruptCollectionError(
                f"keyword index in {str(d)!r} has {bm25.scores['num_docs']} documents but "
                f"{len(meta['ids'])} ids", hint="rebuild the keyword index",
            )
        return cls(list(meta["ids"]), params, bm25)

    def _stem(self, words: list[str]) -> list[str]:
        if self.params.stemmer is None:
            return words
        if self._stemmer is None:
            import Stemmer

            self._stemmer = Stemmer.Stemmer(self.params.stemmer)
        return self._stemmer.stemWords(words)
