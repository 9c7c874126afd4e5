"""The quality layer's state on a collection: query banks, calibration, the modality gap.

A mixin of ``Collection`` (it uses ``self.store``, ``self._derived`` and ``self.embedder``); the
maths is in hubness.py, modality.py and calibration.py, the bookkeeping in derived.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jointspace.errors import BadInputError


class QualityMethods:
    """Collection methods that build and report the quality layer's stored state."""

    def build_query_bank(self, texts: Sequence[str] | None = None, *,
                         vectors: np.ndarray | None = None, modality: str = "text",
                         beta: float | None = None, csls_k: int | None = None,
                         append: bool = False, lock_timeout: float = 0.0) -> int:
        """Set the query bank hubness reduction uses: ``texts`` (past queries, typical
        captions), ready ``vectors``, or by default the collection's own captions and texts (a
        sample of 4,096); ``append`` adds to the current bank. Returns the bank's size."""
        from jointspace.query.hubness import DEFAULT_BETA, DEFAULT_CSLS_K
        from jointspace.query.quality_setup import BANK_MAX, collection_texts, sample_rows

        if vectors is None:
            texts = list(texts) if texts is not None else collection_texts(self.store)
            if not texts:
                raise BadInputError("no texts for a query bank",
                                    hint="index captions or texts, or pass queries")
            texts = [texts[i] for i in sample_rows(len(texts), BANK_MAX)]
            vectors = self.embedder.embed_texts(texts)
        vectors = np.asarray(vectors, np.float32)
        current = self._derived.hubness(modality) if append else None
        if current is not None:
            vectors = np.vstack([current.bank, vectors])[-BANK_MAX:]  # the newest queries win
            beta, csls_k = beta or current.beta, csls_k or current.csls_k
        with self.store.writer(lock_timeout):
            self._derived.set_bank(modality, vectors, beta=beta or DEFAULT_BETA,
                                   csls_k=csls_k or DEFAULT_CSLS_K)
        return len(vectors)

    def calibrate(self, *, miss: float | None = None, lock_timeout: float = 0.0):
        """Fit (and store) the "no good match" cut-off from the collection's own statistics;
        ``miss``: the share of its caption-image pairs the cut-off may reject."""
        from jointspace.query.calibration import DEFAULT_MISS, check_miss
        from jointspace.query.quality_setup import CALIBRATION, fit_calibration

        check_miss(miss)
        cal = fit_calibration(self.store, self._derived, self.embedder.embed_texts,
                              miss=DEFAULT_MISS if miss is None else miss)
        with self.store.writer(lock_timeout):
            self.store.write_state(CALIBRATION, cal.to_bytes())
        self._derived.put(CALIBRATION, cal, cal.to_bytes(), self.store.seq())
        return cal

    def stored_calibration(self):
        """The calibration as stored (never refitted here), or None."""
        from jointspace.query.calibration import Calibration
        from jointspace.query.quality_setup import CALIBRATION

        return self._derived.get(CALIBRATION, Calibration.from_bytes)[0]

    def calibration(self):
        """The stored calibration, refitted first if the collection changed size by 10 %."""
        from jointspace.query.quality_setup import CALIBRATION, fit_calibration, stale

        cal = self.stored_calibration()
        if cal is None or stale(cal, self.count()):
            miss = {} if cal is None else {"miss": cal.miss}  # keep a miss set by calibrate()
            cal = fit_calibration(self.store, self._derived, self.embedder.embed_texts, **miss)
            self._derived.put(CALIBRATION, cal, cal.to_bytes(), self.store.seq())
        return cal

    def refresh_quality_state(self) -> None:
        """Bring the stored modality statistics, query banks and calibration (those the
        collection has) up to date after a write, so read-only searches find them current
        instead of redoing the update in memory on every query."""
        from jointspace.query.derived import MODALITY
        from jointspace.query.modality import ModalityStats

        if getattr(self.store, "readonly", False):
            return
        if self._derived.get(MODALITY, ModalityStats.from_bytes)[0] is not None:
            self._derived.modality()
        for modality in ("text", "image"):
            self._derived.hubness(modality)  # None, and nothing done, without a bank
        if self.stored_calibration() is not None:
            self.calibration()  # refits only when the collection grew or shrank by 10 %

    def quality_info(self) -> dict[str, Any]:
        """The modality gap, query banks and calibration, as ``info`` reports them."""
        from jointspace.query.modality import modality_gap

        stats = self._derived.modality()
        gap = modality_gap(stats)
        banks = {m: len(s.bank) for m in ("text", "image")
                 if (s := self._derived.get(f"hubness.{m}", _decode_bank)[0]) is not None}
        cal = self.stored_calibration()
        return {"modality_gap": None if gap is None else round(gap, 4), "query_banks": banks,
                "calibration": None if cal is None else
                {k: round(v.cut, 3) for k, v in cal.cuts.items()}}


def _decode_bank(data: bytes):
    from jointspace.query.derived import HubnessState

    return HubnessState.from_bytes(data)
