"""Item routes: details, thumbnail and original (by opaque id only), add and remove (admin)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from jointspace.errors import BadInputError, NotFoundError
from jointspace.ingest.items import IMAGE, SourceItem
from jointspace.serve import schemas
from jointspace.serve.deps import (
    check_file_count,
    get_state,
    parse_item_id,
    require_admin,
    require_read,
    served_collection,
)
from jointspace.serve.limits import decode_upload, read_upload
from jointspace.serve.state import Served
from jointspace.serve.thumbs import Rendered, file_stamp, render_original, render_thumbnail

router = APIRouter(prefix="/api/collections/{name}", responses={
    s: {"model": schemas.ErrorResponse} for s in (400, 401, 403, 404, 409, 413, 422, 503)})
Reader = Annotated[str, Depends(require_read)]
Admin = Annotated[str, Depends(require_admin)]
Col = Annotated[Served, Depends(served_collection)]
UPLOAD_DIR = "uploads"
_IMAGE_RESPONSE = {200: {"content": {"image/jpeg": {}, "image/png": {}}}}


@router.get("/items/{item_id}", response_model=schemas.HitOut, tags=["items"])
def get_item(served: Col, _: Reader, item_id: str) -> JSONResponse:
    """One item in the hit shape (score 1.0)."""
    return JSONResponse(served.collection.get(parse_item_id(item_id)).to_dict())


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
        path = _image_path(served, ident)
        key = (served.name, path, size, file_stamp(path))
        rendered = state.thumbnails.get(key)
        if rendered is None:
            rendered = render_thumbnail(path, size, state.settings.max_image_pixels)
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
        lambda: render_original(_image_path(served, ident), state.settings.max_image_pixels))
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
    return JSONResponse(await state.run_write(_add_uploads, served, uploads, meta,
                                              state.settings.max_image_pixels))


@router.post("/texts", response_model=schemas.AddResponse, tags=["admin"])
async def add_texts(request: Request, served: Col, _: Admin, body: schemas.TextsIn
                    ) -> JSONResponse:
    """Add texts (re-sending an id updates that text)."""
    state = get_state(request)
    col = served.collection

    def work() -> dict[str, Any]:
        report = col.add_texts(body.texts, ids=body.ids, metadata=body.metadata, source="api")
        keys = [f"api#{i}" for i in (body.ids or range(len(body.texts)))]
        return _report(report, _ids_of(served, keys))

    _check_writable(served)
    return JSONResponse(await state.run_write(work))


@router.delete("/items/{item_id}", response_model=schemas.RemoveResponse, tags=["admin"])
async def delete_item(request: Request, served: Col, _: Admin, item_id: str) -> JSONResponse:
    ident = parse_item_id(item_id)
    _check_writable(served)
    removed = await get_state(request).run_write(
        lambda: served.collection.remove([ident], lock_timeout=5.0))
    if not removed:
        raise NotFoundError(f"no item with id {ident}")
    return JSONResponse({"removed": removed})


@router.post("/remove", response_model=schemas.RemoveResponse, tags=["admin"])
async def remove_items(request: Request, served: Col, _: Admin, body: schemas.RemoveIn
                       ) -> JSONResponse:
    """Remove items by id and/or by metadata filter."""
    if not body.ids and not body.where:
        raise BadInputError("nothing to remove", hint="give ids and/or where")
    _check_writable(served)
    col = served.collection
    removed = await get_state(request).run_write(
        lambda: col.remove(body.ids, where=body.where or None, lock_timeout=5.0))
    return JSONResponse({"removed": removed})


# --- helpers ------------------------------------------------------------------------------
def _image_path(served: Served, item_id: int) -> str:
    hit = served.collection.get(item_id)
    if hit.kind != IMAGE or not hit.path:
        raise NotFoundError(f"item {item_id} is not an image", hint="text items have no file")
    return hit.path


def _image_response(request: Request, rendered: Rendered) -> Response:
    headers = {"ETag": rendered.etag, "Cache-Control": "private, max-age=3600",
               "Content-Security-Policy": "default-src 'none'; sandbox"}
    if request.headers.get("if-none-match") == rendered.etag:
        return Response(status_code=304, headers=headers)
    return Response(rendered.data, media_type=rendered.media_type, headers=headers)


def _check_writable(served: Served) -> None:
    if not served.writable:
        raise BadInputError(f"collection {served.name!r} is served read-only")


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


@dataclass
class _UploadSource:
    """Already-stored uploads as an ingest source (never pruned)."""

    items: list[SourceItem]
    id: str = UPLOAD_DIR
    prune: bool = False

    def scan(self):
        return iter(self.items)


def _add_uploads(served: Served, files: list[tuple[str, BinaryIO]], meta: dict[str, Any],
                 max_pixels: int) -> dict[str, Any]:
    """Validate every upload with the hardened decoder, store it by content hash, index it."""
    _check_writable(served)
    if not files:
        raise BadInputError("no files uploaded")
    uploads = [(name, read_upload(f)) for name, f in files]
    for filename, data in uploads:  # all or nothing: nothing is stored if one file is bad
        decode_upload(data, max_pixels=max_pixels, name=filename)
    if served.collection.path is None:  # a collection on a Qdrant server: no folder of ours
        raise BadInputError("uploads are stored beside the collection, which lives on a server",
                            hint="index the files with `jointspace index` from where they are")
    folder = served.collection.path / UPLOAD_DIR
    folder.mkdir(exist_ok=True)
    items = []
    for filename, data in uploads:
        target = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.{_extension(data)}"
        if not target.exists():
            tmp = target.with_suffix(".part")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        items.append(SourceItem(key=str(target), kind=IMAGE, path=str(target),
                                metadata={"filename": Path(filename).name[:255], **meta}))
    report = served.collection.add(_UploadSource(items), workers=0, lock_timeout=5.0)
    return _report(report, _ids_of(served, [it.key for it in items]))


def _extension(data: bytes) -> str:
    from jointspace.ingest.decode import probe_image

    fmt = probe_image(data).format or "img"
    return {"JPEG": "jpg", "TIFF": "tif"}.get(fmt, fmt.lower())


def _ids_of(served: Served, keys: list[str]) -> list[int]:
    found = served.collection.store.fingerprints(keys)
    return [found[k].id for k in keys if k in found]


def _report(report: Any, ids: list[int]) -> dict[str, Any]:
    d = report.to_dict()
    return {"added": d["added"], "updated": d["updated"], "unchanged": d["unchanged"],
            "failed": d["failed"], "ids": ids, "errors": d.get("errors", [])}
