"""Quality-layer routes: zero-shot with ZLaP / ZPE against a collection, near-duplicates, and
the stored state of search's quality options (the hubness query bank, the calibrated cut-off).

The maths lives in :mod:`jointspace.zeroshot`, :mod:`jointspace.curate` and
:mod:`jointspace.query`; a collection's
propagated graph is stored in it when it is served writable, and otherwise kept in memory per
(collection, seq, labels), so repeated requests do not rebuild it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from jointspace.errors import BadInputError
from jointspace.serve import schemas
from jointspace.serve.classify import parse_labels
from jointspace.serve.deps import (
    LOCK_TIMEOUT_S,
    Admin,
    Col,
    Reader,
    check_file_count,
    check_writable,
    get_state,
)
from jointspace.serve.state import Served
from jointspace.serve.uploads import decode_upload, read_upload

router = APIRouter(prefix="/api/collections/{name}", responses={
    s: {"model": schemas.ErrorResponse} for s in schemas.ERROR_STATUSES})
_graphs: OrderedDict[tuple, Any] = OrderedDict()
_graphs_lock = threading.Lock()


@router.post("/zeroshot", response_model=schemas.ZeroshotResponse, tags=["classify"])
async def zeroshot(
    request: Request, served: Col, _: Reader,
    image: Annotated[UploadFile, File(description="The image to classify")],
    labels: Annotated[list[str], Form(description="Labels, repeated or comma-separated")],
    templates: Annotated[list[str] | None, Form(description="Templates with '{}' or a set "
                                                            "name (single, imagenet80)")] = None,
    top: Annotated[int, Form(ge=1, le=100)] = 5,
    transductive: Annotated[bool, Form(description="Classify against the collection's label-"
                                                   "propagation graph (ZLaP, inductive)")] = False,
    prompt_weights: Annotated[str, Form(description="equal, or zpe: template weights from the "
                                                    "collection's images")] = "equal",
) -> JSONResponse:
    """Zero-shot classification of an uploaded image using the collection's images as context."""
    await check_file_count(request, 1)
    state = get_state(request)
    names = parse_labels(labels)
    if prompt_weights not in ("equal", "zpe"):
        raise BadInputError(f"unknown prompt_weights {prompt_weights!r}", hint="equal or zpe")
    if len(templates or []) > 100:
        raise BadInputError("at most 100 templates")
    spec: str | list[str] = (templates or ["single"])[0] if len(templates or []) <= 1 \
        else list(templates or [])
    weighting = None if prompt_weights == "equal" else prompt_weights

    def work() -> dict[str, Any]:
        picture = decode_upload(read_upload(image.file), max_pixels=state.settings.max_image_pixels)
        return _classify(served, picture, names, spec, top, weighting, transductive)

    return JSONResponse(await state.run_model(work))


@router.get("/duplicates", response_model=schemas.DuplicatesResponse, tags=["curate"])
async def duplicates(
    request: Request, served: Col, _: Reader,
    threshold: Annotated[float, Query(ge=-1.0, le=1.0, description="Cosine for near "
                                                                    "duplicates")] = 0.95,
    phash: Annotated[int | None, Query(ge=0, le=64, description="Max perceptual-hash bits "
                                                                "apart")] = None,
    neighbours: Annotated[int, Query(ge=1, le=1000)] = 10,
    keep: Annotated[str | None, Query(description="largest, oldest or first")] = None,
    phash_alone: Annotated[int | None, Query(ge=0, le=64, description="Link on the hash alone "
                                                                      "within these bits")] = None,
) -> JSONResponse:
    """Groups of exact and near-duplicate images; nothing is written."""
    from jointspace.curate.duplicates import find_duplicates

    report = await get_state(request).run_model(
        lambda: find_duplicates(served.collection, threshold=threshold, k=neighbours,
                                max_hash_distance=phash, hash_alone_distance=phash_alone,
                                keep=keep))
    return JSONResponse(report.to_dict() | {"dry_run": True})


@router.post("/duplicates", response_model=schemas.DuplicatesResponse, tags=["admin"])
async def mark_duplicates(
    request: Request, served: Col, _: Admin,
    keep: Annotated[str, Form(description="largest, oldest or first")],
    threshold: Annotated[float, Form(ge=-1.0, le=1.0)] = 0.95,
    phash: Annotated[int | None, Form(ge=0, le=64)] = None,
    neighbours: Annotated[int, Form(ge=1, le=1000)] = 10,
    phash_alone: Annotated[int | None, Form(ge=0, le=64)] = None,
) -> JSONResponse:
    """Find the groups and write ``duplicate_of = <kept id>`` on the other members."""
    from jointspace.curate.duplicates import find_duplicates
    from jointspace.curate.duplicates import mark_duplicates as mark

    check_writable(served)

    def work() -> dict[str, Any]:
        report = find_duplicates(served.collection, threshold=threshold, k=neighbours,
                                 max_hash_distance=phash, hash_alone_distance=phash_alone,
                                 keep=keep)
        mark(served.collection, report, lock_timeout=LOCK_TIMEOUT_S)
        return report.to_dict() | {"dry_run": False}

    return JSONResponse(await get_state(request).run_write(work))


@router.post("/bank", response_model=schemas.BankResponse, tags=["admin"])
async def build_bank(request: Request, served: Col, _: Admin,
                     body: schemas.BankIn | None = None) -> JSONResponse:
    """Build the query bank that ``hubness`` searches use, from ``texts`` (past queries, typical
    captions) or, without a body, from the collection's own captions and texts; ``append`` adds
    ``texts`` to the current bank. Text queries only (an image bank is set in Python)."""
    body = body or schemas.BankIn()
    texts = bank_texts(body)
    check_writable(served)
    size = await get_state(request).run_write(
        lambda: served.collection.build_query_bank(texts, append=body.append,
                                                   lock_timeout=LOCK_TIMEOUT_S))
    return JSONResponse({"collection": served.name, "modality": "text", "query_bank": size,
                         "source": "captions" if texts is None else "texts",
                         "append": body.append})


@router.post("/calibrate", response_model=schemas.CalibrateResponse, tags=["admin"])
async def calibrate(request: Request, served: Col, _: Admin,
                    body: schemas.CalibrateIn | None = None) -> JSONResponse:
    """Fit and store the "no good match" cut-offs (``min_score=auto``) now."""
    miss = (body or schemas.CalibrateIn()).miss
    check_writable(served)
    cal = await get_state(request).run_write(
        lambda: served.collection.calibrate(miss=miss, lock_timeout=LOCK_TIMEOUT_S))
    return JSONResponse({"collection": served.name, "miss": cal.miss, "count": cal.count,
                         "calibration": {k: {"cut": round(v.cut, 4), "fitted_on_pairs":
                                             v.n_matches} for k, v in cal.cuts.items()}})


def bank_texts(body: schemas.BankIn) -> list[str] | None:
    """The sent queries, stripped, blank ones dropped; None: use the collection's captions."""
    if body.texts is None:
        if body.append:
            raise BadInputError("append needs texts", hint="send the queries to add as texts")
        return None
    texts = [t.strip() for t in body.texts if t.strip()]
    if not texts:
        raise BadInputError("texts holds no text", hint="leave texts out to build the bank from "
                                                        "the collection's captions and texts")
    return texts


def _classify(served: Served, picture: Any, names: list[str], spec: str | list[str], top: int,
              weighting: str | None, transductive: bool) -> dict[str, Any]:
    from jointspace.zeroshot.classifier import (
        build_classifier,
        predictions_from_scores,
        template_weight_table,
    )
    from jointspace.zeroshot.transductive import classify_new_images, weighted_by_collection

    col = served.collection
    clf = build_classifier(col.embedder, names, templates=spec, keep_prompts=bool(weighting))
    vector = col.embedder.embed_images([picture])
    if transductive:
        graph = _graph(served, clf, weighting)
        scores, weights = classify_new_images(col, graph, vector), graph.template_weights
        method = {"transductive": graph.propagation.settings.to_dict()}
    else:
        clf = weighted_by_collection(col, clf, weighting)
        scores, weights, method = clf.scores(vector), clf.template_weights, {}
    pred = predictions_from_scores(clf.classes, scores, top, propagated=transductive)[0]
    index = {c: i for i, c in enumerate(clf.classes)}
    return {"model": col.embedder.name, "label": pred.label,
            "labels": [{"label": c, "score": round(float(scores[0, index[c]]), 6),
                        "probability": round(p, 6)} for c, p in pred.top],
            "prompt_weights": weighting or "equal",
            "template_weights": template_weight_table(replace(clf, template_weights=weights)),
            **method}


def _graph(served: Served, clf: Any, weighting: str | None) -> Any:
    """The collection's graph: stored (writable) or memoised per seq (read-only)."""
    from jointspace.zeroshot.transductive import PropagationSettings, collection_graph, graph_key

    key = (served.name, served.collection.store.seq(),
           repr(graph_key(clf, weighting, PropagationSettings())))
    with _graphs_lock:
        if key in _graphs:
            _graphs.move_to_end(key)
            return _graphs[key]
    graph = collection_graph(served.collection, clf, prompt_weights=weighting)
    with _graphs_lock:
        _graphs[key] = graph
        while len(_graphs) > 4:
            _graphs.popitem(last=False)
    return graph
