"""BM25 as Qdrant sparse vectors: term weights on the client, IDF on the server.

A document's vector holds, per term, Lucene's BM25 term-frequency part
``tf / (tf + k1 * (1 - b + b * len / avglen))``; the collection's sparse vector uses
``Modifier.IDF``, so Qdrant multiplies each query term by ``ln((N - n + 0.5) / (n + 0.5) + 1)``
over the current corpus (Lucene's BM25 IDF). A query's vector is 1.0 per distinct term, so its
score is the documents' BM25, equal to the local keyword index's (bm25s, "lucene") when
``avglen`` is the corpus average. Tokens as the local index makes them (bm25s, English stop
words, Snowball stemmer). ``avglen`` is fixed when the first texts are written (kept in the
collection's meta point) because stored weights cannot follow a moving average.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from functools import lru_cache

K1, B = 1.5, 0.75
STOPWORDS, STEMMER = "en", "english"


def term_id(term: str) -> int:
    """A stable 32-bit index for ``term`` (Qdrant sparse indices are uint32)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little")


def tokenize(texts: list[str]) -> list[list[str]]:
    import bm25s

    return bm25s.tokenize([t or "" for t in texts], stopwords=STOPWORDS, stemmer=_stemmer(),
                          return_ids=False, show_progress=False)


def document_vectors(texts: list[str], avglen: float) -> list[tuple[list[int], list[float]]]:
    """(indices, values) of each text's BM25 term weights (empty for texts with no terms)."""
    out = []
    for tokens in tokenize(texts):
        counts = Counter(term_id(t) for t in tokens)
        norm = K1 * (1 - B + B * len(tokens) / max(avglen, 1e-9))
        idx = sorted(counts)
        out.append((idx, [counts[i] / (counts[i] + norm) for i in idx]))
    return out


def query_vector(text: str) -> tuple[list[int], list[float]]:
    idx = sorted({term_id(t) for t in tokenize([text])[0]})
    return idx, [1.0] * len(idx)


def average_length(texts: list[str]) -> float:
    lengths = [len(t) for t in tokenize(texts)]
    return sum(lengths) / len(lengths) if lengths else 0.0


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer(STEMMER).stemWords
