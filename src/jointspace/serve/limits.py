"""Limits that keep one client from exhausting the service: body size, uploads, admission.

- ``BodyLimitMiddleware``: 413 for a request body over ``max_body_bytes`` (declared or streamed).
- ``decode_upload``: the hardened decoder with a pixel cap read from the header first (413).
- ``Gate``: admits at most ``capacity`` model requests at once; the rest get 503 + Retry-After.
"""

from __future__ import annotations

import json
import threading
from typing import BinaryIO

from PIL import Image

from jointspace.errors import ImageDecodeError, JointspaceError, PayloadTooLargeError

RETRY_AFTER_S = 1


class ServiceBusyError(JointspaceError):
    """The model queue is full; the client should retry shortly (503 + Retry-After)."""

    http_status = 503
    retry_after = RETRY_AFTER_S


class Gate:
    """A non-blocking counter of admitted requests; ``enter()`` raises ServiceBusyError when full."""

    def __init__(self, capacity: int, what: str = "model") -> None:
        self.capacity = capacity
        self.what = what
        self._count = 0
        self._lock = threading.Lock()
        self.rejected = 0

    @property
    def in_flight(self) -> int:
        return self._count

    def enter(self) -> None:
        with self._lock:
            if self._count >= self.capacity:
                self.rejected += 1
                raise ServiceBusyError(
                    f"the {self.what} queue is full ({self.capacity} requests waiting)",
                    hint=f"retry in {RETRY_AFTER_S} s",
                )
            self._count += 1

    def leave(self) -> None:
        with self._lock:
            self._count -= 1


def too_large(what: str, size: int, limit: int, unit: str = "bytes") -> PayloadTooLargeError:
    return PayloadTooLargeError(f"{what} is {size:,} {unit}, over the limit of {limit:,} {unit}",
                                hint="send a smaller file, or ask the admin to raise the limit")


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


class BodyLimitMiddleware:
    """ASGI middleware answering 413 when a request body exceeds ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading anything; a streamed
    (chunked) body is counted as it arrives, and whatever the app answers after the limit was
    crossed is replaced by the 413.
    """

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _send_413(send, self.limit)
            return
        state = {"received": 0, "exceeded": False, "started": False}

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.limit:
                    state["exceeded"] = True
                    raise too_large("the request body", state["received"], self.limit)
            return message

        async def guarded_send(message) -> None:
            if state["exceeded"]:
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await _send_413(send, self.limit)
                return
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not state["exceeded"]:
                raise
            if not state["started"]:
                await _send_413(send, self.limit)


async def _send_413(send, limit: int) -> None:
    err = too_large("the request body", limit + 1, limit)
    body = json.dumps({"error": {"type": type(err).__name__, "message":
                                 f"the request body is over the limit of {limit:,} bytes",
                                 "hint": err.hint}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
