"""Thumbnails (Pillow, cached in memory) and originals, always looked up by item id.

Clients never name a file: the service resolves ``(collection, item id)`` to the path stored in
the collection at index time, and serves it only if it still resolves (symlinks followed now, not
at index time) inside the folder it was indexed from, and is still a readable image.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from jointspace.errors import ImageDecodeError, NotFoundError

log = logging.getLogger("jointspace.serve")
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


@dataclass(frozen=True)
class ImageFile:
    """An item's image as resolved now: a file, or the member ``member`` of the shard ``path``."""

    path: str
    member: str | None = None

    def __str__(self) -> str:
        return self.path if self.member is None else f"{self.path}#{self.member}"

    def source(self) -> str | bytes:
        """What the decoder reads: the path, or the member's bytes (bounded like any file)."""
        if self.member is None:
            return self.path
        from jointspace.ingest.pipeline import MAX_FILE_BYTES
        from jointspace.ingest.webdataset_source import read_member

        return read_member(self.path, self.member, MAX_FILE_BYTES)


def indexed_root(path: str, source: str, uploads: Path) -> str:
    """The folder an item's file was indexed under, which it must still resolve into.

    Folder sources are keyed by their resolved root and manifests by their resolved file, so
    their roots are as they were at index time. Uploads live in the collection's folder. Other
    files (file lists, absolute manifest paths) had no root: their own folder stands in, which
    still stops a file replaced by a symlink from leading elsewhere.
    """
    if source == uploads.name and _within(path, str(uploads)):
        return os.path.realpath(uploads)
    if os.path.isabs(source):
        base = os.path.dirname(source) if os.path.isfile(source) else source
        if _within(os.path.normpath(path), base):
            return base
    return os.path.realpath(os.path.dirname(path))


def resolve_within(path: str, root: str) -> str:
    """``path`` with every symlink resolved now; NotFoundError if that leaves ``root``."""
    real = os.path.realpath(path)
    if not _within(real, root):
        raise NotFoundError("the item's file now resolves outside the folder it was indexed from",
                            hint="re-index the collection; the file was replaced or moved")
    try:
        regular = stat.S_ISREG(os.stat(real).st_mode)
    except OSError:
        regular = False
    if not regular:  # gone, or a FIFO / device that would block a thread reading it
        raise NotFoundError("the item's file is no longer available",
                            hint="re-index the collection to drop missing files")
    return real


def _within(path: str, root: str) -> bool:
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root if root == os.sep else root + os.sep)


def file_stamp(path: str) -> tuple[int, int]:
    """(mtime_ns, size) of an item's file; NotFoundError when it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        raise NotFoundError("the item's file is no longer available",
                            hint="re-index the collection to drop missing files") from None
    return st.st_mtime_ns, st.st_size


@contextmanager
def _unusable_as_not_found(path: str) -> Iterator[None]:
    """A stored file that no longer decodes is the server's problem: 404, its path only logged."""
    try:
        yield
    except (ImageDecodeError, OSError) as exc:
        log.warning("cannot serve %s: %s", path, getattr(exc, "reason", None) or exc)
        raise NotFoundError("the item's file can no longer be read as an image",
                            hint="re-index the collection to drop or refresh it") from None


def render_thumbnail(image: ImageFile, size: int, max_pixels: int) -> Rendered:
    """Decode ``image`` with the hardened decoder and encode a JPEG fitting ``size`` x ``size``."""
    with _unusable_as_not_found(str(image)):
        return _thumbnail(image.source(), size, max_pixels)


def _thumbnail(src: str | bytes, size: int, max_pixels: int) -> Rendered:
    from jointspace.ingest.decode import load_image

    image = load_image(src, max_pixels=max_pixels, draft_size=size)
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85, optimize=True)
    data = buf.getvalue()
    return Rendered(data, "image/jpeg", _etag(data))


def render_original(image: ImageFile, max_pixels: int) -> Rendered:
    """The original bytes if browsers display its format, else a PNG rendition."""
    with _unusable_as_not_found(str(image)):
        return _original(image.source(), max_pixels)


def _original(src: str | bytes, max_pixels: int) -> Rendered:
    from jointspace.ingest.decode import load_image, probe_image

    info = probe_image(src)
    media_type = BROWSER_TYPES.get(info.format or "")
    if media_type is not None and isinstance(src, bytes):
        data = src
    elif media_type is not None:
        with open(src, "rb") as f:
            data = f.read()
    else:
        buf = io.BytesIO()
        load_image(src, max_pixels=max_pixels).save(buf, "PNG")
        data, media_type = buf.getvalue(), "image/png"
    return Rendered(data, media_type, _etag(data))


def _etag(data: bytes) -> str:
    return '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
