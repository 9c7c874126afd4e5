"""Building a collection's query bank and calibration from what it holds (no labels)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jointspace.query.calibration import DEFAULT_MISS, Calibration, fit_kind, null_and_match
from jointspace.query.derived import DerivedState, all_vectors

BANK_MAX = 4096  # bank queries kept (a random sample beyond that)
CALIBRATION_PROBES = 1000
CALIBRATION = "calibration"
REFIT_GROWTH = 0.1  # refit the calibration when the collection grew or shrank by 10 %

EmbedTexts = Callable[[list[str]], np.ndarray]


def collection_texts(store, limit: int = BANK_MAX, seed: int = 0) -> list[str]:
    """Distinct captions and texts of the collection's items (a seeded sample of ``limit``)."""
    ids, _ = all_vectors(store)
    texts = sorted({it.text for it in store.get(ids.tolist()) if it.text and it.text.strip()})
    if len(texts) > limit:
        pick = np.random.default_rng(seed).choice(len(texts), limit, replace=False)
        texts = [texts[i] for i in sorted(pick)]
    return texts


def sample_rows(n: int, limit: int, seed: int = 0) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def fit_calibration(store, derived: DerivedState, embed_texts: EmbedTexts, *,
                    miss: float = DEFAULT_MISS, seed: int = 0) -> Calibration:
    """Per-kind cut-offs for text queries, from the collection's own captions and items."""
    rng = np.random.default_rng(seed)
    kinds_present = sorted(k for k, n in store.info().get("kinds", {}).items() if n)
    ids, vecs = all_vectors(store)
    items = store.get(ids.tolist())
    kinds = np.array([it.kind for it in items])
    captioned = [j for j, it in enumerate(items) if it.kind == "image" and it.text]
    pick = [captioned[j] for j in sample_rows(len(captioned), CALIBRATION_PROBES, seed)]
    pair_q = embed_texts([items[j].text for j in pick]) if pick else np.zeros((0, store.dim))
    bank = derived.hubness("text")
    probes = pair_q
    if bank is not None:
        probes = bank.bank[sample_rows(len(bank.bank), CALIBRATION_PROBES, seed)]
    elif not len(probes):
        texts = [it.text for it in items if it.text]
        rows = sample_rows(len(texts), CALIBRATION_PROBES, seed)
        probes = embed_texts([texts[j] for j in rows]) if len(rows) else probes
    cal = Calibration(count=len(ids), miss=miss)
    for kind in kinds_present:
        of_kind = vecs[kinds == kind]
        pairs = (pair_q, vecs[pick]) if kind == "image" else (pair_q[:0], vecs[:0])
        null, match = null_and_match(probes, of_kind, *pairs, rng)
        cal.cuts[kind] = fit_kind(null, match, len(of_kind), miss=miss)
    return cal


def stale(cal: Calibration, count: int) -> bool:
    """Whether the collection has grown or shrunk enough since ``cal`` to refit it."""
    return abs(count - cal.count) > REFIT_GROWTH * max(cal.count, 1)
