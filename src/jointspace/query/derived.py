"""Derived state a collection keeps for the quality layer, in step with its items.

Three blobs live in the store (``Store.read_state`` / ``write_state``), each stamped with the seq
of the items it reflects; a blob older than ``store.seq()`` is brought up to date on first use:

- ``modality``: per-kind count, sum and outer-product sum (query/modality.py). New items are
  added exactly; an updated or deleted item makes it recompute (one pass, O(n d^2)).
- ``hubness.<text|image>``: a query bank and, per item, QB-Norm's normaliser, CSLS's
  neighbourhood and the bank's top-1 items (query/hubness.py). Incremental where the backend
  keeps a change log (``LocalStore.changes_since``): new and updated items are scored against
  the bank, deleted ones dropped, and bank queries whose top item went away are searched again;
  elsewhere it is recomputed from a scan.
- ``calibration``: the "no good match" cut-off (query/calibration.py), refitted as the
  collection grows.

Updated state is persisted when the writer lock is free (never waiting for it); otherwise, or on
a read-only collection, it is kept in memory for this process.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import numpy as np

from jointspace.errors import CollectionError
from jointspace.query.hubness import DEFAULT_BETA, DEFAULT_CSLS_K, bank_statistics
from jointspace.query.modality import ModalityStats

MODALITY = "modality"
HUBNESS = "hubness.{}"


@dataclass
class HubnessState:
    """A query bank and what it says about every item (rows aligned with ``ids``)."""

    bank: np.ndarray  # (n_bank, d) unit query vectors
    beta: float
    csls_k: int
    ids: np.ndarray  # (n,) item ids
    log_z: np.ndarray  # (n,)
    r: np.ndarray  # (n,)
    best_id: np.ndarray  # (n_bank,) item id each bank query ranks first (-1: none)
    best_score: np.ndarray  # (n_bank,)

    def lookup(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(log_z, r, active) for ``ids`` (unknown ids: neutral values, never active)."""
        pos = {int(i): j for j, i in enumerate(self.ids)}
        rows = np.array([pos.get(int(i), -1) for i in ids], np.int64)
        known = rows >= 0
        log_z = np.where(known, self.log_z[rows], np.median(self.log_z) if len(self.ids) else 0.0)
        r = np.where(known, self.r[rows], np.median(self.r) if len(self.ids) else 0.0)
        active = np.isin(ids, self.best_id[self.best_id >= 0])
        return log_z, r, active

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, bank=self.bank, beta=self.beta, csls_k=self.csls_k, ids=self.ids,
                 log_z=self.log_z, r=self.r, best_id=self.best_id, best_score=self.best_score)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> HubnessState:
        z = np.load(io.BytesIO(data))
        return cls(z["bank"], float(z["beta"]), int(z["csls_k"]), z["ids"], z["log_z"], z["r"],
                   z["best_id"], z["best_score"])


def new_hubness_state(bank: np.ndarray, ids: np.ndarray, vectors: np.ndarray, *,
                      beta: float = DEFAULT_BETA, csls_k: int = DEFAULT_CSLS_K) -> HubnessState:
    """Score every item against ``bank`` from scratch."""
    bank = np.asarray(bank, np.float32)
    stats = bank_statistics(bank, vectors, beta=beta, csls_k=csls_k)
    best_id = np.where(stats.best_item >= 0, ids[np.maximum(stats.best_item, 0)], -1)
    return HubnessState(bank, beta, csls_k, np.asarray(ids, np.int64), stats.log_z, stats.r,
                        best_id.astype(np.int64), stats.best_score)


def update_hubness(state: HubnessState, store, changed: np.ndarray, vectors: np.ndarray,
                   deleted: np.ndarray) -> HubnessState:
    """Bring ``state`` in line with items written (``changed``) and ``deleted`` since it was made."""
    gone = np.union1d(changed, deleted)
    keep = ~np.isin(state.ids, gone)
    stats = bank_statistics(state.bank, vectors, beta=state.beta, csls_k=state.csls_k)
    ids = np.concatenate([state.ids[keep], changed]).astype(np.int64)
    log_z = np.concatenate([state.log_z[keep], stats.log_z])
    r = np.concatenate([state.r[keep], stats.r])
    best_id, best_score = state.best_id.copy(), state.best_score.copy()
    lost = np.isin(best_id, gone)  # their top item changed or went away: ask the index again
    if lost.any():
        for b, pairs in zip(np.flatnonzero(lost), store.search(state.bank[lost], 1)):
            best_id[b], best_score[b] = (pairs[0] if pairs else (-1, -np.inf))
    if len(changed):
        better = stats.best_score > best_score
        best_id[better] = changed[stats.best_item[better]]
        best_score[better] = stats.best_score[better]
    return HubnessState(state.bank, state.beta, state.csls_k, ids, log_z, r, best_id, best_score)


class DerivedState:
    """Loads, updates and persists a collection's derived state; safe for many threads."""

    def __init__(self, store) -> None:
        self.store = store
        self._cache: dict[str, tuple[object, int]] = {}
        self._lock = threading.RLock()

    def modality(self) -> ModalityStats:
        """Per-kind statistics of the collection as it is now."""
        with self._lock:
            seq = self.store.seq()
            stats, at = self._load(MODALITY, ModalityStats.from_bytes)
            if stats is not None and at == seq:
                return stats
            change = _changes_since(self.store, at) if stats is not None else None
            if change is None or not _only_adds(stats, change, self.store.count()):
                stats = self._modality_from_scratch()
            else:
                changed, vecs, _ = change
                for kind, rows in _by_kind(self.store, changed).items():
                    stats.add(kind, vecs[rows])
            self._save(MODALITY, stats, stats.to_bytes(), seq)
            return stats

    def hubness(self, modality: str) -> HubnessState | None:
        """The query bank for ``modality`` queries, up to date; None if there is none."""
        name = HUBNESS.format(modality)
        with self._lock:
            seq = self.store.seq()
            state, at = self._load(name, HubnessState.from_bytes)
            if state is None or at == seq:
                return state
            change = _changes_since(self.store, at)
            if change is None:
                ids, vecs = all_vectors(self.store)
                state = new_hubness_state(state.bank, ids, vecs, beta=state.beta,
                                          csls_k=state.csls_k)
            else:
                state = update_hubness(state, self.store, *change)
            self._save(name, state, state.to_bytes(), seq)
            return state

    def set_bank(self, modality: str, bank: np.ndarray, *, beta: float = DEFAULT_BETA,
                 csls_k: int = DEFAULT_CSLS_K) -> HubnessState:
        """Replace the ``modality`` query bank and score every item against it (writer only)."""
        # scored outside the lock: the caller's writer lock keeps seq still, and other state
        # (the modality statistics a collection description reads) stays available meanwhile
        seq = self.store.seq()
        ids, vecs = all_vectors(self.store)
        state = new_hubness_state(bank, ids, vecs, beta=beta, csls_k=csls_k)
        with self._lock:
            self.store.write_state(HUBNESS.format(modality), state.to_bytes(), seq)
            self._cache[HUBNESS.format(modality)] = (state, seq)
            return state

    def get(self, name: str, decode) -> tuple[object | None, int]:
        """Any named state as (object, seq) — cached, else decoded from the store."""
        with self._lock:
            return self._load(name, decode)

    def put(self, name: str, obj: object, data: bytes, seq: int) -> None:
        """Cache ``obj`` and persist ``data`` when the writer lock is free."""
        with self._lock:
            self._save(name, obj, data, seq)

    # --- helpers ------------------------------------------------------------------------
    def _load(self, name: str, decode) -> tuple[object | None, int]:
        if name in self._cache:
            return self._cache[name]
        blob = self.store.read_state(name)
        if blob is None:
            return None, -1
        obj = decode(blob.data)
        self._cache[name] = (obj, blob.seq)
        return obj, blob.seq

    def _save(self, name: str, obj: object, data: bytes, seq: int) -> None:
        self._cache[name] = (obj, seq)
        if getattr(self.store, "readonly", False):
            return
        try:
            with self.store.writer(0):
                self.store.write_state(name, data, seq)
        except CollectionError:  # someone else is writing, or we may not: keep it in memory
            pass

    def _modality_from_scratch(self) -> ModalityStats:
        ids, vecs = all_vectors(self.store)
        stats = ModalityStats(self.store.dim)
        for kind, rows in _by_kind(self.store, ids).items():
            stats.add(kind, vecs[rows])
        return stats


def all_vectors(store) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every item, through the Store protocol's batched scan."""
    pages = list(store.scan_vectors())
    if not pages:
        return np.zeros(0, np.int64), np.zeros((0, store.dim), np.float32)
    return np.concatenate([p[0] for p in pages]), np.concatenate([p[1] for p in pages])


def _changes_since(store, seq: int):
    """The backend's change log since ``seq`` when it keeps one (LocalStore), else None:
    state is then recomputed from a full scan."""
    changes = getattr(store, "changes_since", None)
    return changes(seq) if changes is not None else None


def _by_kind(store, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Row positions in ``ids`` grouped by the items' kind."""
    kind_of = {it.id: it.kind for it in store.get([int(i) for i in ids])}
    kinds = np.array([kind_of.get(int(i), "") for i in ids])
    return {str(k): np.flatnonzero(kinds == k) for k in np.unique(kinds) if k}


def _only_adds(stats: ModalityStats, change, count_now: int) -> bool:
    """Whether ``change`` only adds items (so sums can be extended instead of recomputed)."""
    changed, _, deleted = change
    before = sum(stats.count.values())
    return len(deleted) == 0 and before + len(changed) == count_now
