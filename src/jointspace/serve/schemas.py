"""Pydantic models describing the JSON the API returns and accepts (for the OpenAPI schema).

Responses are built from ``Hit.to_dict()`` and ``Collection.info()`` and sent as they are; these
models document them. A hit has ``path`` (image items) and/or ``text`` (text items, captions).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

# Every error a route may answer, in the one shape: 409 a writer holds the collection, 500 an
# internal error or an unreadable tokens file, 503 the queue is full.
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 422, 500, 503)
MAX_BANK_TEXTS = 4096  # a bank keeps at most this many queries (query/quality_setup.BANK_MAX)
MAX_BANK_TEXT_CHARS = 2000  # per query, like the page's search box


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
    modality_gap: float | None = Field(description="Distance between the image and text "
                                                   "centroids (null unless it holds both)")
    query_banks: dict[str, int] = Field(description="Queries in each query bank (hubness), by "
                                                    "query modality")
    calibration: dict[str, float] | None = Field(description="Cosine cut-off per kind "
                                                             "(min_score=auto); null until fitted")


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


class TemplateWeight(Out):
    template: str
    weight: float = Field(description="Share of the class embedding (weights sum to 1)")


class PropagationOut(Out):
    k: int
    gamma: float
    alpha: float
    tol: float
    max_iter: int


class ZeroshotResponse(ClassifyResponse):
    prompt_weights: str = Field(description="equal, or zpe (weights from the collection's images)")
    template_weights: list[TemplateWeight] = Field(description="Heaviest first")
    transductive: PropagationOut | None = Field(
        None, description="Label-propagation settings, when classified against the collection's "
                          "graph (scores are then propagated scores, not cosines)")


class DuplicateGroupOut(Out):
    ids: list[int]
    paths: list[str | None]
    score: float = Field(description="The weakest link's cosine (1.0 for exact copies)")
    exact: bool = Field(description="Every member has the same sha256")
    keep: int | None = Field(None, description="The member the keep rule keeps")


class DuplicatesResponse(Out):
    groups: list[DuplicateGroupOut]
    threshold: float
    items: int = Field(description="Images compared")
    max_hash_distance: int | None
    hash_alone_distance: int | None
    marked: int = Field(description="Items given duplicate_of (0 on a dry run)")
    k: int
    keep_rule: str | None
    dry_run: bool


class BankIn(BaseModel):
    """Unknown fields are refused: a misspelt ``texts`` must not rebuild the bank from captions."""

    model_config = ConfigDict(extra="forbid")

    texts: list[Annotated[str, StringConstraints(max_length=MAX_BANK_TEXT_CHARS)]] | None = Field(
        None, max_length=MAX_BANK_TEXTS, description="Past queries or typical captions. Default: "
                                                     "the collection's own captions and texts")
    append: StrictBool = Field(False, description="Add texts to the current bank (the newest "
                                                  "4,096 are kept) instead of replacing it")


class BankResponse(Out):
    collection: str
    modality: str = Field(description="The queries the bank serves: text")
    query_bank: int = Field(description="Queries now in the bank")
    source: str = Field(description="texts (sent) or captions (the collection's own)")
    append: bool


class CalibrateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    miss: StrictFloat | None = Field(None, gt=0.0, lt=1.0, allow_inf_nan=False,
                               description="Share of the collection's caption-image pairs the "
                                           "cut-off may reject (default 0.25)")


class KindCutOut(Out):
    cut: float = Field(description="Cosine below which a result of this kind is no good match")
    fitted_on_pairs: int = Field(description="Caption-image pairs it was fitted on (0: texts, "
                                             "from the chance level alone)")


class CalibrateResponse(Out):
    collection: str
    miss: float
    count: int = Field(description="Items in the collection when it was fitted")
    calibration: dict[str, KindCutOut] = Field(description="Per item kind")
