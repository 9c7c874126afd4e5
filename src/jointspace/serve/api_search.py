"""Read routes: health, collections, search (text / image / like / composed), classify."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

import jointspace
from jointspace.serve import schemas
from jointspace.serve.classify import classify_image, parse_labels
from jointspace.serve.deps import check_file_count, get_state, require_read, served_collection
from jointspace.serve.limits import too_large
from jointspace.serve.search import SearchQuery, hit_json, run_search
from jointspace.serve.state import Served, ServeState
from jointspace.serve.uploads import decode_upload, read_upload

router = APIRouter(prefix="/api", responses={
    s: {"model": schemas.ErrorResponse} for s in schemas.ERROR_STATUSES})
Reader = Annotated[str, Depends(require_read)]
Col = Annotated[Served, Depends(served_collection)]
HUBNESS_HELP = "Demote hubs with the collection's query bank: qbnorm or csls (default: off)"
BALANCE_HELP = "Rank images and texts against their own score distribution: auto, on or off"
MIN_SCORE_HELP = ("Drop results below this cosine, or 'auto' for the collection's calibrated "
                  "cut-off: an empty list then means no good match")
HYBRID_HELP = ("Fuse keyword (BM25 over text and metadata) with vector results: off, on (= "
               "convex) or rrf. Needs q; scores are then fused scores, not cosines.")


@router.get("/health", response_model=schemas.HealthResponse, tags=["service"])
def health(request: Request) -> JSONResponse:
    """Liveness (no token needed) and how busy the model queue is."""
    state = get_state(request)
    return JSONResponse({
        "status": "ok", "version": jointspace.__version__, "collections": len(state.collections),
        "queue": {"in_flight": state.model_gate.in_flight, "capacity": state.model_gate.capacity,
                  "rejected": state.model_gate.rejected, "waiting": state.worker.waiting,
                  "model_calls": state.worker.stats.calls,
                  "embedded": state.worker.stats.items,
                  "largest_batch": state.worker.stats.largest_batch},
        "connections": state.connections.stats(),
    })


@router.get("/collections", response_model=schemas.CollectionsResponse, tags=["collections"])
def list_collections(request: Request, _: Reader) -> JSONResponse:
    """Every served collection with its count, model and dimension."""
    state = get_state(request)
    return JSONResponse({"collections": [describe(s) for s in state.collections.values()]})


@router.get("/collections/{name}", response_model=schemas.CollectionOut, tags=["collections"])
def get_collection(served: Col, _: Reader) -> JSONResponse:
    return JSONResponse(describe(served))


@router.get("/collections/{name}/search", response_model=schemas.SearchResponse,
            tags=["search"])
async def search_get(
    request: Request, served: Col, _: Reader,
    q: Annotated[str | None, Query(description="Text to search for")] = None,
    like: Annotated[int | None, Query(description="Item id: more like this")] = None,
    not_: Annotated[list[str] | None, Query(alias="not", description="Text to steer away from")]
    = None,
    where: Annotated[list[str] | None, Query(description="Filter, e.g. 'year>=2015'")] = None,
    kind: Annotated[str | None, Query(description="'image' or 'text' only")] = None,
    k: int = 20, offset: int = 0, text_weight: float = 1.0, image_weight: float = 1.0,
    negative_weight: float = 0.5,
    hybrid: Annotated[str, Query(description=HYBRID_HELP)] = "off",
    hubness: Annotated[str | None, Query(description=HUBNESS_HELP)] = None,
    balance: Annotated[str, Query(description=BALANCE_HELP)] = "auto",
    min_score: Annotated[str | None, Query(description=MIN_SCORE_HELP)] = None,
) -> JSONResponse:
    """Search by text and/or an item id (use POST to upload an image)."""
    query = SearchQuery(q, None, like, list(not_ or []), list(where or []), kind, k, offset,
                        text_weight, image_weight, negative_weight, hybrid, hubness, balance,
                        min_score)
    return await _search(get_state(request), served, query)


@router.post("/collections/{name}/search", response_model=schemas.SearchResponse,
             tags=["search"])
async def search_post(
    request: Request, served: Col, _: Reader,
    q: Annotated[str | None, Form(description="Text to search for")] = None,
    image: Annotated[UploadFile | None, File(description="An image to search by")] = None,
    like: Annotated[int | None, Form(description="Item id: more like this")] = None,
    not_: Annotated[list[str] | None, Form(alias="not", description="Text to steer away from")]
    = None,
    where: Annotated[list[str] | None, Form(description="Filter, e.g. 'year>=2015'")] = None,
    kind: Annotated[str | None, Form()] = None,
    k: Annotated[int, Form()] = 20, offset: Annotated[int, Form()] = 0,
    text_weight: Annotated[float, Form()] = 1.0, image_weight: Annotated[float, Form()] = 1.0,
    negative_weight: Annotated[float, Form()] = 0.5,
    hybrid: Annotated[str, Form(description=HYBRID_HELP)] = "off",
    hubness: Annotated[str | None, Form(description=HUBNESS_HELP)] = None,
    balance: Annotated[str, Form(description=BALANCE_HELP)] = "auto",
    min_score: Annotated[str | None, Form(description=MIN_SCORE_HELP)] = None,
) -> JSONResponse:
    """Search by text, an uploaded image, an item id, or a composition (multipart form).

    With several of them the query is the weighted sum of their unit vectors minus
    ``negative_weight`` times each ``not`` term. ``image_weight`` weighs the image, or the
    ``like`` item when there is no image.
    """
    await check_file_count(request, 1)
    upload = image.file if image is not None else None  # an empty file is a bad image
    query = SearchQuery(q, upload, like, list(not_ or []), list(where or []), kind, k, offset,
                        text_weight, image_weight, negative_weight, hybrid, hubness, balance,
                        min_score)
    return await _search(get_state(request), served, query)


async def _search(state: ServeState, served: Served, query: SearchQuery) -> JSONResponse:
    query.check(state.settings)
    start = time.perf_counter()
    hits, more = await state.run_model(run_search, served.collection, query,
                                       state.settings.max_image_pixels)
    return JSONResponse({
        "collection": served.name, "query": query.echo(),
        "results": [hit_json(h, state.settings) for h in hits], "k": query.k, "offset": query.offset,
        "next_offset": query.offset + query.k if more else None,
        "took_ms": round((time.perf_counter() - start) * 1000, 2),
    })


@router.post("/collections/{name}/classify", response_model=schemas.ClassifyResponse,
             tags=["classify"])
async def classify(
    request: Request, served: Col, _: Reader,
    image: Annotated[UploadFile, File(description="The image to classify")],
    labels: Annotated[list[str], Form(description="Labels, repeated or comma-separated")],
    templates: Annotated[list[str] | None, Form(description="Prompt templates with '{}', or a "
                                                            "set name: single, imagenet7, "
                                                            "imagenet80")] = None,
    top: Annotated[int, Form(ge=1, le=100)] = 5,
) -> JSONResponse:
    """Zero-shot classification of an uploaded image into ``labels`` with the collection's model."""
    await check_file_count(request, 1)
    state = get_state(request)
    names = parse_labels(labels)
    templates = templates or []
    spec: str | list[str] = templates[0] if len(templates) == 1 else (templates or "single")
    if len(templates) > 100:
        raise too_large("templates", len(templates), 100, "templates")
    embedder = served.collection.embedder

    def work() -> dict[str, Any]:
        picture = decode_upload(read_upload(image.file), max_pixels=state.settings.max_image_pixels)
        return classify_image(state.classifiers, embedder, picture, names, spec, top)

    return JSONResponse(await state.run_model(work))


def describe(served: Served) -> dict[str, Any]:
    """A collection as the API lists it (no server paths), with its quality state as ``info``
    reports it. The modality statistics behind the gap are computed once per collection change
    (one pass over the vectors, incremental after adds) and cached, as searches use them too."""
    info = served.collection.info()
    return {"name": served.name, "count": info["count"], "model": info["model"],
            "dim": info["dim"], "kinds": info["kinds"], "index": info["index"],
            "modalities": sorted(served.collection.embedder.modalities),
            "writable": served.writable, **served.collection.quality_info()}
