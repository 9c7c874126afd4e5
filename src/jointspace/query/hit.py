"""Search results as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Hit:
    """One result. ``score`` is the cosine similarity between the query and the item;
    ``relevance`` (0..1) is the collection's calibrated estimate that it matches, when known."""

    id: int
    score: float
    kind: str
    path: str | None = None
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    relevance: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape: id, kind, path and/or text, score, metadata."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.path is not None:
            out["path"] = self.path
        if self.text is not None:
            out["text"] = self.text
        out["score"] = round(self.score, 6)
        if self.relevance is not None:
            out["relevance"] = round(self.relevance, 4)
        out["metadata"] = self.metadata
        return out
