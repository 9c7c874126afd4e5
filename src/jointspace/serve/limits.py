"""Size limits: the one 413 error, and the middleware refusing request bodies over the limit.

``BodyLimitMiddleware`` answers 413 for a request body over ``max_body_bytes`` (declared or
streamed); ``too_large`` builds the 413 error every other size check raises.
"""

from __future__ import annotations

import json

from jointspace.errors import PayloadTooLargeError


def too_large(what: str, size: int, limit: int, unit: str = "bytes") -> PayloadTooLargeError:
    return PayloadTooLargeError(f"{what} is {size:,} {unit}, over the limit of {limit:,} {unit}",
                                hint="send a smaller file, or ask the admin to raise the limit")


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
