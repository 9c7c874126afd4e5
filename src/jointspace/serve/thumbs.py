"""Thumbnails (Pillow, cached in memory) and originals, always looked up by item id.

Clients never name a file: the service resolves ``(collection, item id)`` to the path stored in
the collection at index time, and serves it only if it is still a readable image.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image

from jointspace.errors import NotFoundError

# Pillow format -> media type browsers display; anything else is served as a PNG rendition.
BROWSER_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                 "WEBP": "image/webp", "BMP": "image/bmp"}


@dataclass(frozen=True)
class Rendered:
    """Encoded image bytes ready to send."""

    data: bytes
    media_type: str
    etag: str


class ThumbnailCache:
    """A thread-safe LRU of rendered thumbnails, bounded by total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, Rendered] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple) -> Rendered | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: tuple, value: Rendered) -> None:
        if len(value.data) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.data)
            self._items[key] = value
            self._bytes += len(value.data)
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.data)


def file_stamp(path: str) -> tuple[int, int]:
    """(mtime_ns, size) of an item's file; NotFoundError when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        raise NotFoundError("the item's file is no longer available",
                            hint="re-index the collection to drop missing files") from None
    return st.st_mtime_ns, st.st_size


def render_thumbnail(path: str, size: int, max_pixels: int) -> Rendered:
    """Decode ``path`` with the hardened decoder and encode a JPEG fitting ``size`` x ``size``."""
    from jointspace.ingest.decode import load_image

    image = load_image(path, max_pixels=max_pixels, draft_size=size)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85, optimize=True)
    data = buf.getvalue()
    return Rendered(data, "image/jpeg", _etag(data))


def render_original(path: str, max_pixels: int) -> Rendered:
    """The original bytes if browsers display its format, else a PNG rendition."""
    from jointspace.ingest.decode import load_image, probe_image

    info = probe_image(path)
    media_type = BROWSER_TYPES.get(info.format or "")
    if media_type is not None:
        with open(path, "rb") as f:
            data = f.read()
    else:
        buf = io.BytesIO()
        load_image(path, max_pixels=max_pixels).save(buf, "PNG")
        data, media_type = buf.getvalue(), "image/png"
    return Rendered(data, media_type, _etag(data))


def _etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
