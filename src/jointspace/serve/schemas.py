"""Pydantic models describing the JSON the API returns and accepts (for the OpenAPI schema).

Responses are built from ``Hit.to_dict()`` and ``Collection.info()`` and sent as they are; these
models document them. A hit has ``path`` (image items) and/or ``text`` (text items, captions).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt

# Every error a route may answer, in the one shape: 409 a writer holds the collection, 500 an
# internal error or an unreadable tokens file, 503 the queue is full.
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422, 500, 503)


class Out(BaseModel):
    """A response model: exactly these fields (the service tests validate every response)."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(Out):
    type: str = Field(description="The error class, e.g. NotFoundError")
    message: str
    hint: str | None = Field(None, description="What to do next")


class ErrorResponse(Out):
    error: ErrorBody


class HitOut(Out):
    id: int = Field(description="Opaque item id: use it for thumbnails, originals, 'like'")
    kind: str = Field(description="'image' or 'text'")
    path: str | None = Field(None, description="Image file (absent for text items)")
    text: str | None = Field(None, description="Text, or an image's caption")
    score: float = Field(description="Cosine similarity to the query (fused score in hybrid "
                                     "mode)")
    metadata: dict[str, Any]
    relevance: float | None = Field(None, description="Calibrated relevance 0..1 (with "
                                                      "min_score=auto)")


class SearchResponse(Out):
    collection: str
    query: dict[str, Any] = Field(description="The query as understood (no image bytes)")
    results: list[HitOut]
    k: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page")
    took_ms: float


class CollectionOut(Out):
    name: str
    count: int
    model: str
    dim: int
    kinds: dict[str, int] = Field(description="Items per kind")
    modalities: list[str] = Field(description="What the model can embed as a query")
    index: str
    writable: bool


class CollectionsResponse(Out):
    collections: list[CollectionOut]


class HealthResponse(Out):
    status: str
    version: str
    collections: int
    queue: dict[str, int]
    connections: dict[str, int] = Field(
        description="open, idle (no request in progress), refused (503 at accept: nothing idle "
                    "to evict), evicted (idle ones closed to make room), timed_out (head, body "
                    "or send deadline), max, per_client")


class LabelScore(Out):
    label: str
    score: float = Field(description="Cosine similarity of the image to the label's prompts")
    probability: float = Field(description="Softmax over the labels at temperature 100")


class ClassifyResponse(Out):
    model: str
    label: str
    labels: list[LabelScore]


class AddResponse(Out):
    added: int
    updated: int
    unchanged: int
    failed: int
    ids: list[int] = Field(description="Item ids of the uploaded items, in upload order")
    errors: list[dict[str, str]] = Field(default_factory=list)


class TextsIn(BaseModel):
    texts: list[str] = Field(min_length=1, max_length=1000)
    ids: list[str] | None = Field(None, description="Stable keys, one per text; re-sending a "
                                  "key updates it. Default: each text's content hash")
    metadata: list[dict[str, Any]] | None = None


class RemoveIn(BaseModel):
    ids: list[StrictInt] = Field(default_factory=list, max_length=10_000)  # true is not item 1
    where: list[str] | None = Field(None, description="Metadata filters, e.g. 'year<2000'")


class RemoveResponse(Out):
    removed: int
