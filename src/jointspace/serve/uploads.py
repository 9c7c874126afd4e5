"""Uploaded images: read once admitted, decoded under a pixel cap (413), stored by content hash.

Stored uploads live in the collection's ``uploads/`` folder, named by the SHA-256 of their bytes,
and are indexed through ``UploadSource`` like any other source.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from jointspace.errors import ImageDecodeError, PayloadTooLargeError
from jointspace.ingest.items import IMAGE, SourceItem
from jointspace.serve.limits import too_large

UPLOAD_DIR = "uploads"

# Decoded uploads are the service's largest allocations (up to max_pixels x 3 bytes each): at
# most this many are decoded at once, however many request threads are running.
DECODE_SLOTS = threading.BoundedSemaphore(2)


def read_upload(upload: bytes | BinaryIO) -> bytes:
    """The bytes of an upload: Starlette spools big parts to disk, read them only when admitted."""
    return upload if isinstance(upload, bytes) else upload.read()


def decode_upload(data: bytes, *, max_pixels: int, name: str = "upload") -> Image.Image:
    """Decode an uploaded image through the hardened decoder.

    Over-size images (by the header's width x height, before any pixel is decoded) are 413, as
    are files Pillow itself flags as decompression bombs; anything else unusable is 400.
    """
    with DECODE_SLOTS:
        return _decode(data, max_pixels, name)


def _decode(data: bytes, max_pixels: int, name: str) -> Image.Image:
    from jointspace.ingest.decode import load_image, probe_image

    try:
        info = probe_image(data, name=name)
    except ImageDecodeError as exc:
        if "decompression bomb" in exc.reason:
            raise PayloadTooLargeError(f"the image is too large to decode safely: {exc.reason}",
                                       hint="send a smaller image") from exc
        raise
    if info.pixels > max_pixels:
        raise too_large(f"the image ({info.width}x{info.height})", info.pixels, max_pixels,
                        "pixels")
    return load_image(data, max_pixels=max_pixels, name=name)


@dataclass
class UploadSource:
    """Already-stored uploads as an ingest source (never pruned)."""

    items: list[SourceItem]
    id: str = UPLOAD_DIR
    prune: bool = False

    def scan(self):
        return iter(self.items)


def store_uploads(folder: Path, uploads: list[tuple[str, bytes]], meta: dict[str, Any],
                  written: list[Path]) -> list[SourceItem]:
    """Write each upload as ``folder/<sha256>.<ext>`` (atomically; kept if already there).

    Files this call creates are appended to ``written`` as they appear, so a caller can remove
    them if anything later fails.
    """
    folder.mkdir(exist_ok=True)
    items = []
    for filename, data in uploads:
        target = folder / f"{hashlib.sha256(data).hexdigest()[:32]}.{_extension(data)}"
        if not target.exists():
            tmp = target.with_suffix(".part")
            try:
                tmp.write_bytes(data)
                os.replace(tmp, target)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            written.append(target)
        items.append(SourceItem(key=str(target), kind=IMAGE, path=str(target),
                                metadata={"filename": Path(filename).name[:255], **meta}))
    return items


def remove_files(paths: list[Path]) -> None:
    """Delete files this request created (best effort: one that cannot go is left, not raised)."""
    for path in paths:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass


def _extension(data: bytes) -> str:
    from jointspace.ingest.decode import probe_image

    fmt = probe_image(data).format or "img"
    return {"JPEG": "jpg", "TIFF": "tif"}.get(fmt, fmt.lower())
