"""Hubness reduction: oracle checks of the maths, and a constructed hub both methods must demote."""

from __future__ import annotations

import numpy as np
import pytest

from jointspace.query.hubness import (
    bank_statistics,
    csls,
    k_occurrence,
    qbnorm,
    rescore,
    skewness,
)


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def hub_world(n=40, n_bank=60, dim=48, seed=0):
    """Queries each with one true item, plus one hub closer to every query than its true item."""
    rng = np.random.default_rng(seed)
    e0 = np.eye(dim)[0]
    u = rng.standard_normal((n, dim))
    u[:, 0] = 0
    u = _unit(u)
    v = rng.standard_normal((n, dim))
    v[:, 0] = 0
    v = _unit(v)
    queries = _unit(0.8 * e0 + 0.6 * u)
    items = _unit(0.4 * e0 + 0.7 * u + 0.6 * v)  # item i belongs to query i
    gallery = np.vstack([items, e0[None, :].astype(np.float32)])  # the hub is the last item
    w = rng.standard_normal((n_bank, dim))
    w[:, 0] = 0
    bank = _unit(0.8 * e0 + 0.6 * _unit(w))  # typical queries, unrelated to any one item
    return queries, gallery, bank


def _r1(scores):
    return float((scores.argmax(axis=1) == np.arange(len(scores))).mean())


@pytest.mark.parametrize("method", ["qbnorm", "csls"])
def test_constructed_hub_is_demoted(method):
    queries, gallery, bank = hub_world()
    plain = queries @ gallery.T
    assert (plain.argmax(axis=1) == len(gallery) - 1).all()  # the hub wins every query
    assert _r1(plain) == 0.0
    fixed = rescore(method, plain, bank @ gallery.T, beta=20.0, csls_k=10)
    assert not (fixed.argmax(axis=1) == len(gallery) - 1).any()  # the hub tops no query now
    assert _r1(fixed) >= 0.9
    assert skewness(k_occurrence(fixed, 1)) < skewness(k_occurrence(plain, 1))


def test_bank_statistics_match_brute_force_at_odd_chunks():
    rng = np.random.default_rng(1)
    bank, items = _unit(rng.standard_normal((37, 16))), _unit(rng.standard_normal((53, 16)))
    st = bank_statistics(bank, items, beta=7.0, csls_k=5, chunk=11)
    sims = (bank @ items.T).astype(np.float64)
    np.testing.assert_allclose(st.log_z, np.log(np.exp(7.0 * sims).sum(axis=0)), rtol=1e-6)
    np.testing.assert_allclose(st.r, np.sort(sims, axis=0)[-5:].mean(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(st.best_item, sims.argmax(axis=1))
    np.testing.assert_allclose(st.best_score, sims.max(axis=1), rtol=1e-6)


def test_qbnorm_is_the_reference_inverted_softmax_on_active_rows_only():
    rng = np.random.default_rng(2)
    scores = rng.uniform(-1, 1, (6, 9))
    log_z = rng.uniform(0, 5, 9)
    active = np.zeros(9, bool)
    active[scores[:3].argmax(axis=1)] = True  # rows 0-2 have an active top-1
    rows_active = active[scores.argmax(axis=1)]
    out = qbnorm(scores, log_z, active, beta=4.0)
    reference = np.exp(4.0 * scores) / np.exp(log_z)  # exp(beta s) / Z, the paper's form
    for r in range(6):
        if rows_active[r]:
            np.testing.assert_array_equal(np.argsort(-out[r]), np.argsort(-reference[r]))
        else:
            np.testing.assert_array_equal(out[r], scores[r])  # left alone
    assert rows_active[:3].all()


def test_csls_formula():
    s = np.array([[0.5, 0.2], [0.1, 0.9]])
    out = csls(s, np.array([0.3, 0.1]), np.array([0.4, 0.2]))
    np.testing.assert_allclose(out, 2 * s - np.array([0.3, 0.1])[None] - np.array([[0.4], [0.2]]))


def test_k_occurrence_and_skewness():
    scores = np.array([[1.0, 0.0, 0.5], [1.0, 0.2, 0.0], [1.0, 0.9, 0.0]])
    np.testing.assert_array_equal(k_occurrence(scores, 1), [3, 0, 0])
    assert skewness(np.array([1, 1, 1])) == 0.0
    assert skewness(np.array([0, 0, 0, 10])) > 1.0


@pytest.mark.parametrize("method", ["qbnorm", "csls"])
def test_collection_search_demotes_the_hub_and_keeps_state_incremental(vector_collection, method):
    queries, gallery, bank = hub_world(n=20)
    col = vector_collection([("image", g, None) for g in gallery])
    col.build_query_bank(vectors=bank, csls_k=10)
    hub_id = len(gallery)  # ids start at 1
    for i, q in enumerate(queries):
        assert col.search_vector(q, k=1)[0].id == hub_id
        hit = col.search_vector(q, k=1, hubness=method)[0]
        assert hit.id == i + 1
        assert hit.score == pytest.approx(float(q @ gallery[i]), abs=1e-5)  # still the cosine

    from jointspace.query.derived import all_vectors, new_hubness_state
    from jointspace.store import NewItem, WriteBatch

    rng = np.random.default_rng(5)
    with col.store.writer():
        col.store.write(WriteBatch(upserts=[NewItem(key=f"new{j}", source="test", kind="image",
                                                    vector=_unit(rng.standard_normal(48)))
                                            for j in range(5)], deletes=[hub_id, 3]))
    state = col._derived.hubness("text")  # brought up to date incrementally
    ids, vecs = all_vectors(col.store)
    fresh = new_hubness_state(state.bank, ids, vecs, beta=state.beta, csls_k=state.csls_k)
    order = np.argsort(state.ids)
    np.testing.assert_array_equal(state.ids[order], fresh.ids)
    np.testing.assert_allclose(state.log_z[order], fresh.log_z, rtol=1e-6)
    np.testing.assert_allclose(state.r[order], fresh.r, rtol=1e-5)
    np.testing.assert_array_equal(state.best_id, fresh.best_id)


def test_building_a_bank_leaves_the_other_state_readable(vector_collection, monkeypatch):
    """Scoring a new bank (seconds on a big collection) must not block a collection description
    (the modality gap) in another thread: the HTTP listing reads it."""
    import threading

    from jointspace.query import derived

    _, gallery, bank = hub_world(n=20)
    col = vector_collection([("image", g, None) for g in gallery])
    started, release, described = threading.Event(), threading.Event(), threading.Event()
    real = derived.new_hubness_state

    def held(*args, **kwargs):
        started.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(derived, "new_hubness_state", held)
    builder = threading.Thread(target=col.build_query_bank, kwargs={"vectors": bank})
    builder.start()
    try:
        assert started.wait(30)
        reader = threading.Thread(target=lambda: (col.quality_info(), described.set()))
        reader.start()
        assert described.wait(30), "the description waited for the bank"
    finally:
        release.set()
        builder.join(30)
    assert col.quality_info()["query_banks"] == {"text": len(bank)}
