"""Search with the quality layer: hubness reduction, modality balancing, a "no good match" cut-off.

Each correction re-scores a shortlist the index returns (the top ``shortlist`` by cosine, per
kind when balancing), so its cost is O(shortlist) per query on top of the plain search. Hits keep
their cosine in ``score``; their order follows the corrected score, and with a calibration each
hit carries a calibrated ``relevance``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jointspace.errors import BadInputError
from jointspace.query.calibration import Calibration
from jointspace.query.derived import DerivedState
from jointspace.query.hubness import METHODS, csls, qbnorm, query_neighbourhood
from jointspace.query.modality import balanced_order, standardise
from jointspace.store.filters import Filter, with_kind

DEFAULT_SHORTLIST = 200  # candidates re-scored per query (per kind when balancing)
AUTO = "auto"


@dataclass
class QualityOptions:
    hubness: str | None = None  # "qbnorm" | "csls" | None
    balance: bool | None = None  # None: on for collections holding images and texts
    min_score: float | str | None = None  # a cosine, "auto" (calibrated), or None
    shortlist: int = DEFAULT_SHORTLIST

    def check(self) -> None:
        if self.hubness is not None and self.hubness not in METHODS:
            raise BadInputError(f"unknown hubness method {self.hubness!r}",
                                hint=f"use one of {', '.join(METHODS)}")
        if isinstance(self.min_score, str) and self.min_score != AUTO:
            raise BadInputError(f"min_score must be a number or 'auto', not {self.min_score!r}")
        if not 1 <= self.shortlist <= 100_000:
            raise BadInputError("shortlist must be 1..100000")


def parse_min_score(value: str | float | None) -> float | str | None:
    """A min-score option as typed (CLI, HTTP): None, "auto" or a number."""
    if value is None or value == AUTO or isinstance(value, float):
        return value
    try:
        return float(value)
    except ValueError:
        raise BadInputError(f"min-score must be a number or 'auto', not {value!r}") from None


def ranked_candidates(store, derived: DerivedState, query: np.ndarray, modality: str,
                      want: int, flt: Filter | None, opts: QualityOptions,
                      calibration: Calibration | None) -> list[tuple[int, float, float | None]]:
    """(id, cosine, relevance) for the best ``want`` items, best first, after the corrections."""
    depth = max(opts.shortlist, want)
    need_stats = opts.balance is not False
    stats = derived.modality() if need_stats else None
    kinds_present = stats.kinds() if stats is not None else []
    balance = opts.balance is not False and len(kinds_present) > 1
    kinds = None  # each candidate's kind: known from per-kind searches, else looked up if needed
    if balance:
        pairs, found_kinds = [], []
        for kind in kinds_present:
            found = store.search(query[None, :], depth, with_kind(flt, kind))[0]
            pairs += found
            found_kinds += [kind] * len(found)
        kinds = np.array(found_kinds)
    else:
        pairs = store.search(query[None, :], depth, flt)[0]
    if not pairs:
        return []
    ids = np.array([i for i, _ in pairs], np.int64)
    cos = np.array([s for _, s in pairs], np.float64)
    if kinds is None and calibration is not None:
        kinds = _kinds(store, ids)
    score = cos[None, :]
    if opts.hubness:
        state = derived.hubness(modality)
        if state is None:
            raise BadInputError(f"no query bank for {modality} queries in this collection",
                                hint="build one with `jointspace bank -c DIR` (from the "
                                     "collection's captions) or `--file queries.txt`")
        log_z, r, active = state.lookup(ids)
        if opts.hubness == "qbnorm":
            score = qbnorm(score, log_z, active, beta=state.beta)
        else:
            score = csls(score, r, query_neighbourhood(score, state.csls_k))
    if balance:
        score = standardise(score, query[None, :], kinds, stats)
    relevance, keep = None, np.ones(len(ids), bool)
    if calibration is not None:
        relevance = calibration.relevance(cos, kinds)
        if opts.min_score == AUTO:
            keep = calibration.accept(cos, kinds)
    elif isinstance(opts.min_score, (int, float)) and not isinstance(opts.min_score, bool):
        keep = cos >= float(opts.min_score)
    kept = np.flatnonzero(keep)
    if balance:  # each kind its fair share of the top (docs/quality/modality.md)
        order = kept[balanced_order(score[0, kept], kinds[kept], limit=want)]
    else:
        order = kept[np.argsort(-score[0, kept], kind="stable")][:want]
    return [(int(ids[j]), float(cos[j]), None if relevance is None else float(relevance[j]))
            for j in order]


def _kinds(store, ids: np.ndarray) -> np.ndarray:
    kind_of = {it.id: it.kind for it in store.get([int(i) for i in ids])}
    return np.array([kind_of.get(int(i), "") for i in ids])

