"""Property tests of search inputs: whatever the text, k, offset, filter, kind or vector, a search
returns well-formed, exact results or raises a JointspaceError with a message, never anything else."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_filter_properties import HOSTILE, reference

from jointspace.errors import BadInputError, JointspaceError
from jointspace.query import Collection
from jointspace.store.filters import parse_filter

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
LABELS = ["cat", "dog", "bird", None]


@pytest.fixture(scope="module")
def col(tmp_path_factory):
    rng = np.random.default_rng(0)
    texts, metas = [], []
    for i in range(60):
        texts.append(f"item {i} " + " ".join(rng.choice(["red", "blue", "cat", "dog"], 3)))
        meta = {"n": i, "label": LABELS[i % 4], "score": float(rng.normal())}
        if i % 7 == 0:
            meta["year"] = "unknown"
        metas.append({k: v for k, v in meta.items() if v is not None})
    c = Collection.create(tmp_path_factory.mktemp("q") / "col", "hash:64")
    c.add_texts(texts, metadata=metas)
    yield c
    c.close()


wheres = st.none() | HOSTILE | st.sampled_from([
    "n < 10", "label in (cat, dog)", "label = null", "score >= 0 and n != 3", "year >= 2015",
    "label not in (null, cat)", "kind = text", "n in (1, 2, 3, 99)", {"n": {">": 50}},
    ["n >= 5", "n <= 8"],
])


def _check_hits(col, hits, text, k, offset, where, kind) -> None:
    assert len(hits) <= k
    ids = [h.id for h in hits]
    assert len(ids) == len(set(ids)), "an id twice"
    scores = [h.score for h in hits]
    assert all(a >= b - 1e-6 for a, b in pairwise(scores)), "not sorted"
    assert all(np.isfinite(scores)) and all(-1.0001 <= s <= 1.0001 for s in scores)
    flt = parse_filter(where)
    for h in hits:
        assert kind is None or h.kind == kind
        if flt is not None:
            assert all(_matches(h.kind, h.metadata, c) for c in flt.clauses)
    # the exact page, against a brute-force scan of every stored vector (ties in any order)
    every = _all_scores(col, text)
    allowed, want = _brute_force(every, col, k, offset, flt, kind)
    np.testing.assert_allclose(scores, want, atol=1e-5)
    for h in hits:
        assert h.id in allowed and abs(every[h.id] - h.score) <= 1e-5


def _matches(kind: str, meta: dict, c) -> bool:
    return (kind == c.value) == (c.op == "=") if c.field == "kind" else reference(meta, c)


def _all_scores(col, text) -> np.ndarray:
    """Cosine of every stored item with the query, indexed by item id (-inf for no item)."""
    items = col.store.get(range(1, 1000))
    ids = np.array([it.id for it in items])
    out = np.full(ids.max() + 1, -np.inf, np.float32)
    out[ids] = col.store.vectors(ids) @ col.embedder.embed_texts([text])[0]
    return out


def _brute_force(scores, col, k, offset, flt, kind) -> tuple[np.ndarray, np.ndarray]:
    """The ids allowed by the filter, and the page of scores the search must return."""
    allowed = [it.id for it in col.store.get(range(1, 1000))
               if (kind is None or it.kind == kind)
               and (flt is None or all(_matches(it.kind, it.metadata, c) for c in flt.clauses))]
    allowed = np.array(allowed, dtype=np.int64)
    ranked = np.sort(scores[allowed])[::-1] if len(allowed) else np.zeros(0, np.float32)
    return allowed, ranked[offset : offset + k]


@SETTINGS
@given(text=st.text(max_size=40), k=st.integers(-3, 12_000), offset=st.integers(-3, 12_000),
       where=wheres, kind=st.none() | st.sampled_from(["image", "text", "Text", "", "both"]))
def test_any_search_is_well_formed_or_a_clear_error(col, text, k, offset, where, kind):
    try:
        hits = col.search(text, k=k, offset=offset, where=where, kind=kind)
    except JointspaceError as exc:
        assert exc.message
        return
    _check_hits(col, hits, text, k, offset, where, kind)


@SETTINGS
@given(where=wheres.filter(lambda w: w is not None), k=st.integers(1, 80),
       offset=st.integers(0, 70))
def test_filtered_search_is_exact(col, where, k, offset):
    """With M matching items, exactly min(k, M - offset) come back: filtering is not post-hoc."""
    try:
        flt = parse_filter(where)
        hits = col.search("red cat", k=k, offset=offset, where=where)
    except JointspaceError:
        return
    with col.store.truth.transaction() as conn:
        matching = len(col.store.truth.filter_ids(flt, conn)) if flt else col.count()
    assert len(hits) == max(0, min(k, matching - offset))


@SETTINGS
@given(st.one_of(
    st.lists(st.floats(width=32), min_size=64, max_size=64).map(lambda v: np.array(v, np.float32)),
    st.integers(0, 130).map(lambda n: np.ones(n, np.float32)),
    st.just(np.ones((2, 64), np.float32)), st.just(np.zeros(64, np.float32))))
def test_any_query_vector_is_searched_or_refused(col, vector):
    try:
        hits = col.search_vector(vector, k=5)
    except BadInputError:
        assert vector.shape != (64,) or not np.isfinite(vector).all()
        return
    assert vector.shape == (64,) and np.isfinite(vector).all()
    assert len(hits) == 5


@pytest.mark.parametrize("patch", [{"x": float("nan")}, {"x": object()}, {"bad name": 1}])
def test_bad_annotations_are_bad_input(col, patch):
    with pytest.raises(BadInputError):
        col.annotate({1: patch})
