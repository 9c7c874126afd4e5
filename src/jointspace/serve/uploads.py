"""Uploaded images: read once admitted, decoded by the hardened decoder under a pixel cap (413)."""

from __future__ import annotations

import threading
from typing import BinaryIO

from PIL import Image

from jointspace.errors import ImageDecodeError, PayloadTooLargeError
from jointspace.serve.limits import too_large

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
