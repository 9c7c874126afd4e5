"""Fixtures for the quality layer: collections whose vectors the test chooses."""

from __future__ import annotations

import numpy as np
import pytest


class LookupEmbedder:
    """Texts map to vectors the test chose (unknown texts: a fixed random unit vector)."""

    modalities = frozenset({"image", "text"})
    max_text_tokens = None  # with runtimes and token_counts: enough to index texts
    runtimes: dict[str, str] = {}  # noqa: RUF012 - never written

    def token_counts(self, texts):
        return None

    def __init__(self, name: str, dim: int, table: dict[str, np.ndarray]) -> None:
        self.name, self.dim, self.table = name, dim, table

    def embed_texts(self, texts):
        out = []
        for t in texts:
            if t not in self.table:
                rng = np.random.default_rng(abs(hash(t)) % 2**32)
                v = rng.standard_normal(self.dim)
                self.table[t] = (v / np.linalg.norm(v)).astype(np.float32)
            out.append(self.table[t])
        return np.stack(out).astype(np.float32) if out else np.zeros((0, self.dim), np.float32)


@pytest.fixture
def vector_collection(tmp_path):
    """``make(items, table)`` -> a Collection holding ``items`` = [(kind, vector, text), ...]."""
    from jointspace.query import Collection
    from jointspace.store import LocalStore, NewItem, WriteBatch

    made = []

    def make(items, table=None, name="c"):
        dim = len(items[0][1])
        store = LocalStore.create(tmp_path / name, "test:lookup", dim)
        with store.writer():
            store.write(WriteBatch(upserts=[
                NewItem(key=f"k{i}", source="test", kind=kind,
                        vector=np.asarray(vec, np.float32) / np.linalg.norm(vec),
                        path=f"/img/{i}.png" if kind == "image" else None, text=text)
                for i, (kind, vec, text) in enumerate(items)]))
        col = Collection(store, LookupEmbedder("test:lookup", dim, dict(table or {})))
        made.append(col)
        return col

    yield make
    for col in made:
        col.close()
