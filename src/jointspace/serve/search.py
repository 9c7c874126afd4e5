"""A search request as plain data, checked, and run against a collection (in a worker thread)."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from jointspace.errors import BadInputError
from jointspace.query import Collection, Hit
from jointspace.serve.deps import check_item_ids
from jointspace.serve.settings import ServeSettings
from jointspace.serve.uploads import decode_upload, read_upload

MAX_WEIGHT = 100.0
BALANCE = {"auto": None, "on": True, "off": False}
HYBRID_MODES = {"": "off", "off": "off", "false": "off", "0": "off", "no": "off",
                "on": "convex", "true": "convex", "1": "convex", "yes": "convex",
                "convex": "convex", "rrf": "rrf"}


@dataclass
class SearchQuery:
    """What to search for; at least one of ``q``, ``image``, ``like``."""

    q: str | None = None
    image: bytes | BinaryIO | None = None  # the upload, read and decoded once admitted
    like: int | None = None  # an item id: "more like this"
    negatives: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)
    kind: str | None = None
    k: int = 20
    offset: int = 0
    text_weight: float = 1.0
    image_weight: float = 1.0  # weighs the uploaded image, or the `like` item when no image
    negative_weight: float = 0.5
    hybrid: str = "off"  # keyword (BM25) + vector fusion: off, convex (= true) or rrf
    hubness: str | None = None  # qbnorm | csls (docs/quality/hubness.md)
    balance: str = "auto"  # auto | on | off: modality balancing (docs/quality/modality.md)
    min_score: str | None = None  # a cosine or "auto" (docs/quality/calibration.md)

    def check(self, settings: ServeSettings) -> SearchQuery:
        """Normalise empty fields to None and reject what the service will not run (400)."""
        self.q = (self.q or "").strip() or None
        self.kind = (self.kind or "").strip() or None
        self.negatives = [n.strip() for n in self.negatives if n and n.strip()]
        self.where = [w.strip() for w in self.where if w and w.strip()]
        self.hybrid = HYBRID_MODES.get(str(self.hybrid).strip().lower(), "")
        if not self.hybrid:
            raise BadInputError("hybrid must be one of off, on, convex, rrf")
        self.hubness = (self.hubness or "").strip().lower() or None
        self.min_score = (self.min_score or "").strip().lower() or None
        self.balance = (self.balance or "auto").strip().lower()
        if self.balance not in BALANCE:
            raise BadInputError("balance must be one of auto, on, off")
        if self.q is None and self.image is None and self.like is None:
            raise BadInputError("nothing to search for",
                                hint="give q (text), an image upload, or like (an item id)")
        if self.like is not None:
            check_item_ids([self.like], "like")
        if not 1 <= self.k <= settings.max_k or not 0 <= self.offset <= 10_000:
            raise BadInputError(f"k must be 1..{settings.max_k} and offset 0..10000")
        if len(self.negatives) > settings.max_negatives:
            raise BadInputError(f"at most {settings.max_negatives} negative terms")
        for name in ("text_weight", "image_weight", "negative_weight"):
            w = getattr(self, name)
            if not (math.isfinite(w) and 0.0 <= w <= MAX_WEIGHT):
                raise BadInputError(f"{name} must be between 0 and {MAX_WEIGHT:g}")
        return self

    def echo(self) -> dict[str, Any]:
        """The query as the response reports it (no image bytes)."""
        return {"q": self.q, "image": self.image is not None, "like": self.like,
                "not": self.negatives, "where": self.where, "kind": self.kind,
                "text_weight": self.text_weight, "image_weight": self.image_weight,
                "negative_weight": self.negative_weight, "hybrid": self.hybrid,
                "hubness": self.hubness, "balance": self.balance, "min_score": self.min_score}


def run_search(col: Collection, query: SearchQuery, max_pixels: int) -> tuple[list[Hit], bool]:
    """The page of hits and whether another page follows (blocking: model + index work)."""
    image = None
    if query.image is not None:
        image = decode_upload(read_upload(query.image), max_pixels=max_pixels)
    text_weight = query.text_weight
    if query.like is not None and image is None and query.q is not None:
        # Collection weighs a `like` item 1.0; scaling the text keeps the same ratio.
        text_weight = query.text_weight / max(query.image_weight, 1e-6)
    from jointspace.query.quality_search import parse_min_score

    hits = col.search(query.q, image=image, item_id=query.like, k=query.k + 1,
                      offset=query.offset, where=query.where or None, kind=query.kind,
                      negative=query.negatives or None, text_weight=text_weight,
                      image_weight=query.image_weight, negative_weight=query.negative_weight,
                      hybrid=False if query.hybrid == "off" else query.hybrid,
                      hubness=query.hubness, balance_modalities=BALANCE[query.balance],
                      min_score=parse_min_score(query.min_score))
    return hits[: query.k], len(hits) > query.k


def hit_json(hit: Hit, settings: ServeSettings) -> dict[str, Any]:
    """A hit as the API returns it; with ``hide_paths`` its ``path`` is the file's name only."""
    out = hit.to_dict()
    if settings.hide_paths and "path" in out:
        out["path"] = os.path.basename(out["path"])
    return out


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\"(),;:/]+/)+[^\s'\"(),;:/]*")


def scrub_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part (error messages under hide_paths)."""
    return _ABSOLUTE_PATH.sub(lambda m: os.path.basename(m.group(0).rstrip("/")) or "…", text)
