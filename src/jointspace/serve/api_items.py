"""Item routes: details, thumbnail and original (by opaque id only), add and remove (admin)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from jointspace.errors import BadInputError, NotFoundError
from jointspace.ingest.items import IMAGE
from jointspace.ingest.webdataset_source import is_shard_spec, split_member
from jointspace.query.indexing import PATH_BYTES, printable
from jointspace.query.text_ids import text_ids
from jointspace.serve import schemas
from jointspace.serve.deps import (
    LOCK_TIMEOUT_S,
    check_file_count,
    check_item_ids,
    check_writable,
    get_state,
    parse_item_id,
    require_admin,
    require_read,
    served_collection,
)
from jointspace.serve.search import hit_json
from jointspace.serve.settings import ServeSettings
from jointspace.serve.state import Served
from jointspace.serve.thumbs import (
    BROWSER_TYPES,
    ImageFile,
    Rendered,
    file_stamp,
    indexed_root,
    render_original,
    render_thumbnail,
    resolve_within,
)
from jointspace.serve.uploads import (
    UPLOAD_DIR,
    UploadSource,
    decode_upload,
    read_upload,
    remove_files,
    store_uploads,
)

router = APIRouter(prefix="/api/collections/{name}", responses={
    s: {"model": schemas.ErrorResponse} for s in schemas.ERROR_STATUSES})
Reader = Annotated[str, Depends(require_read)]
Admin = Annotated[str, Depends(require_admin)]
Col = Annotated[Served, Depends(served_collection)]
_IMAGE_RESPONSE = {200: {"content": {t: {} for t in sorted(set(BROWSER_TYPES.values()))}},
                   304: {"description": "Not modified (If-None-Match matched the ETag)"}}


@router.get("/items/{item_id}", response_model=schemas.HitOut, tags=["items"])
def get_item(request: Request, served: Col, _: Reader, item_id: str) -> JSONResponse:
    """One item in the hit shape (score 1.0)."""
    hit = served.collection.get(parse_item_id(item_id))
    return JSONResponse(hit_json(hit, get_state(request).settings))


@router.get("/items/{item_id}/thumbnail", response_class=Response, responses=_IMAGE_RESPONSE,
            tags=["items"])
async def thumbnail(request: Request, served: Col, _: Reader, item_id: str,
                    size: Annotated[int, Query(description="Longest side in pixels")] = 256,
                    ) -> Response:
    """A JPEG thumbnail of an image item (generated once, then served from memory)."""
    state = get_state(request)
    if size not in state.settings.thumbnail_sizes:
        raise BadInputError(f"size must be one of {list(state.settings.thumbnail_sizes)}")
    ident = parse_item_id(item_id)

    def work() -> Rendered:
        image = _image_file(served, ident)
        key = (served.name, image, size, file_stamp(image.path))
        rendered = state.thumbnails.get(key)
        if rendered is None:
            rendered = render_thumbnail(image, size, state.settings.max_image_pixels)
            state.thumbnails.put(key, rendered)
        return rendered

    return _image_response(request, await state.run_io(work))


@router.get("/items/{item_id}/original", response_class=Response, responses=_IMAGE_RESPONSE,
            tags=["items"])
async def original(request: Request, served: Col, _: Reader, item_id: str) -> Response:
    """The image item's file (or a PNG rendition of formats browsers do not show)."""
    state = get_state(request)
    ident = parse_item_id(item_id)
    rendered = await state.run_io(
        lambda: render_original(_image_file(served, ident), state.settings.max_image_pixels))
    return _image_response(request, rendered)


@router.post("/items", response_model=schemas.AddResponse, tags=["admin"])
async def add_images(
    request: Request, served: Col, _: Admin,
    files: Annotated[list[UploadFile], File(description="Images to add")],
    metadata: Annotated[str | None, Form(description="A JSON object stored with every image")]
    = None,
) -> JSONResponse:
    """Upload images into the collection (stored in its ``uploads/`` folder, then indexed)."""
    state = get_state(request)
    await check_file_count(request, state.settings.max_files)
    meta = _json_object(metadata)
    uploads = [(f.filename or "upload", f.file) for f in files]
    return JSONResponse(_public(await state.run_write(_add_uploads, served, uploads, meta,
                                                      state.settings.max_image_pixels),
                                state.settings))


@router.post("/texts", response_model=schemas.AddResponse, tags=["admin"])
async def add_texts(request: Request, served: Col, _: Admin, body: schemas.TextsIn
                    ) -> JSONResponse:
    """Add texts (re-sending an id updates that text; without ids a text is keyed by its
    content, so re-sending it changes nothing and other calls' texts are never replaced)."""
    state = get_state(request)
    col = served.collection

    def work() -> dict[str, Any]:
        ids = body.ids if body.ids is not None else text_ids(col.store, body.texts, "api")
        report = col.add_texts(body.texts, ids=body.ids, metadata=body.metadata, source="api")
        return _report(report, _ids_of(served, [f"api#{i}" for i in ids]))

    check_writable(served)
    return JSONResponse(_public(await state.run_write(work), state.settings))


@router.delete("/items/{item_id}", response_model=schemas.RemoveResponse, tags=["admin"])
async def delete_item(request: Request, served: Col, _: Admin, item_id: str) -> JSONResponse:
    ident = parse_item_id(item_id)
    check_writable(served)
    removed = await get_state(request).run_write(
        lambda: served.collection.remove([ident], lock_timeout=LOCK_TIMEOUT_S))
    if not removed:
        raise NotFoundError(f"no item with id {ident}")
    return JSONResponse({"removed": removed})


@router.post("/remove", response_model=schemas.RemoveResponse, tags=["admin"])
async def remove_items(request: Request, served: Col, _: Admin, body: schemas.RemoveIn
                       ) -> JSONResponse:
    """Remove items by id and/or by metadata filter."""
    if not body.ids and not body.where:
        raise BadInputError("nothing to remove", hint="give ids and/or where")
    check_item_ids(body.ids)
    check_writable(served)
    col = served.collection
    removed = await get_state(request).run_write(
        lambda: col.remove(body.ids, where=body.where or None, lock_timeout=LOCK_TIMEOUT_S))
    return JSONResponse({"removed": removed})


# --- helpers ------------------------------------------------------------------------------
def _image_file(served: Served, item_id: int) -> ImageFile:
    """The item's file (or shard member), resolved now and refused if the file no longer lies
    where it was indexed. A file name that is not UTF-8 is opened by its exact stored bytes."""
    found = served.collection.store.get([item_id])
    if not found:
        raise NotFoundError(f"no item with id {item_id}")
    item = found[0]
    if item.kind != IMAGE or not item.path:
        raise NotFoundError(f"item {item_id} is not an image", hint="text items have no file")
    path, member = item.path, None
    if is_shard_spec(item.source):  # stored as "SHARD.tar#MEMBER"
        path, member = split_member(path)
    real = _name_from_bytes(item.metadata.get(PATH_BYTES))
    if real is not None and printable(real) == path:  # only the bytes of the stored name
        path = real
    root = indexed_root(path, item.source, served.collection.path / UPLOAD_DIR)
    return ImageFile(resolve_within(path, root), member)


def _name_from_bytes(raw: Any) -> str | None:
    """The real file name a non-UTF-8 path was stored from (``metadata.path_bytes``, base64)."""
    if not isinstance(raw, str):
        return None
    try:
        return os.fsdecode(base64.b64decode(raw, validate=True))
    except ValueError:
        return None


def _image_response(request: Request, rendered: Rendered) -> Response:
    headers = {"ETag": rendered.etag, "Cache-Control": "private, max-age=3600",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    if request.headers.get("if-none-match") == rendered.etag:
        return Response(status_code=304, headers=headers)
    return Response(rendered.data, media_type=rendered.media_type, headers=headers)


def _json_object(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadInputError(f"metadata is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadInputError('metadata must be a JSON object, e.g. {"album": "trip"}')
    return value


def _add_uploads(served: Served, files: list[tuple[str, BinaryIO]], meta: dict[str, Any],
                 max_pixels: int) -> dict[str, Any]:
    """Validate every upload, store it by content hash, index it; a failure leaves no new file."""
    check_writable(served)
    if not files:
        raise BadInputError("no files uploaded")
    uploads = [(name, read_upload(f)) for name, f in files]
    for filename, data in uploads:  # all or nothing: nothing is stored if one file is bad
        decode_upload(data, max_pixels=max_pixels, name=filename)
    if served.collection.path is None:  # a collection on a Qdrant server: no folder of ours
        raise BadInputError("uploads are stored beside the collection, which lives on a server",
                            hint="index the files with `jointspace index` from where they are")
    written: list[Path] = []
    try:
        items = store_uploads(served.collection.path / UPLOAD_DIR, uploads, meta, written)
        report = served.collection.add(UploadSource(items), workers=0, lock_timeout=LOCK_TIMEOUT_S)
        ids = _ids_of(served, [it.key for it in items])
    except BaseException:
        remove_files(written)
        raise
    indexed = set(served.collection.store.fingerprints([str(p) for p in written]))
    remove_files([p for p in written if str(p) not in indexed])  # stored but failed to index
    return _report(report, ids)


def _public(report: dict[str, Any], settings: ServeSettings) -> dict[str, Any]:
    """An add report as returned: with ``hide_paths`` its errors name files, not server paths."""
    if settings.hide_paths:
        report["errors"] = [{**e, "path": os.path.basename(e.get("path", ""))}
                            for e in report["errors"]]
    return report


def _ids_of(served: Served, keys: list[str]) -> list[int]:
    found = served.collection.store.fingerprints(keys)
    return [found[k].id for k in keys if k in found]


def _report(report: Any, ids: list[int]) -> dict[str, Any]:
    d = report.to_dict()
    return {"added": d["added"], "updated": d["updated"], "unchanged": d["unchanged"],
            "failed": d["failed"], "ids": ids, "errors": d.get("errors", [])}
