"""Connection guards uvicorn lacks: head and body read deadlines, a per-client connection cap.

uvicorn (0.54, h11) arms no timer until a first response is sent: a client that opens a
connection and sends nothing, or a request head one byte at a time, or a declared body it never
finishes, holds its connection (and a slot of ``--max-connections``) for ever, and stalls a
graceful shutdown. ``GuardedH11Protocol`` adds, per connection:

- a head deadline: the request line and headers must be complete ``header_timeout_s`` after the
  connection (or the previous response) — trickling bytes does not extend it; 408 then close;
- a body deadline: a declared body must arrive within ``body_timeout_s`` of its head, whether or
  not the app is still reading it (a 401 sent before the body keeps counting); 408 then close;
- a send deadline: a response the client stops reading (the write buffer stays full for
  ``send_timeout_s``) is abandoned and the connection aborted;
- admission at accept time: beyond ``per_client`` open connections from one address, or
  ``max_connections`` in all, the oldest *idle* connection (no request in progress: a head not
  yet complete, or a keep-alive wait) of that address (or of all) is closed to make room, so a
  flood of idle connections can only evict itself, never starve a client with a real request
  even from the same address; only when none is idle is the new connection refused (503).

All of it runs on the event loop thread, so the counters need no lock.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass
class ConnectionGuard:
    """The limits, and what they did (reported by ``/api/health``)."""

    max_connections: int
    per_client: int  # 0: no per-client cap (e.g. behind a reverse proxy: one address)
    header_timeout_s: float
    body_timeout_s: float
    send_timeout_s: float
    per_address: Counter = field(default_factory=Counter)  # open connections by client address
    refused: int = 0  # connections closed at accept time (503): nothing idle to evict
    evicted: int = 0  # idle connections closed to make room for a new one
    timed_out: int = 0  # connections closed by a head or body deadline (408), or a send one
    _open: dict = field(default_factory=dict)  # protocol -> address, oldest first

    @property
    def open(self) -> int:
        return len(self._open)

    def stats(self) -> dict[str, int]:
        return {"open": self.open, "idle": sum(p.idle() for p in self._open),
                "refused": self.refused, "evicted": self.evicted,
                "timed_out": self.timed_out, "max": self.max_connections,
                "per_client": self.per_client}

    def admit(self, protocol: GuardedH11Protocol, address: str) -> bool:
        """Count a new connection in, evicting idle ones over the caps; False: refuse it."""
        if self.per_client and self.per_address[address] >= self.per_client:
            if not self._evict_idle(address):
                return False
        if self.open >= self.max_connections and not self._evict_idle(None):
            return False
        self._open[protocol] = address
        self.per_address[address] += 1
        return True

    def release(self, protocol: GuardedH11Protocol) -> None:
        address = self._open.pop(protocol, None)
        if address is not None:
            self.per_address[address] -= 1
            if self.per_address[address] <= 0:
                del self.per_address[address]

    def _evict_idle(self, address: str | None) -> bool:
        victim = next((p for p, a in self._open.items()
                       if (address is None or a == address) and p.idle()), None)
        if victim is None:
            return False
        self.release(victim)
        self.evicted += 1
        victim.evict()
        return True

    def protocol(self) -> type[asyncio.Protocol]:
        """The uvicorn ``http`` protocol class enforcing this guard."""
        return type("GuardedH11Protocol", (GuardedH11Protocol,), {"guard": self})


def _raw_response(status: int, reason: str, message: str, hint: str,
                  extra: str = "") -> bytes:
    body = json.dumps({"error": {"type": "HTTPError", "message": message, "hint": hint}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n{extra}\r\n")
    return head.encode("ascii") + body


BUSY = _raw_response(503, "Service Unavailable", "too many open connections",
                     "close idle connections and retry", "retry-after: 1\r\n")
TIMEOUT = _raw_response(408, "Request Timeout", "the request was not received in time",
                        "send the whole request promptly")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the deadlines and admission of a ``ConnectionGuard``."""

    guard: ConnectionGuard

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: object = None  # the h11 state the deadline is for
        self._send_deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if not self.guard.admit(self, self.client[0] if self.client else "?"):
            self.guard.refused += 1
            transport.write(BUSY)
            transport.close()
            return
        self._admitted = True
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self._cancel_send_deadline()
        self.guard.release(self)
        super().connection_lost(exc)

    def idle(self) -> bool:
        """No request in progress: waiting for a head (or the next one on a keep-alive)."""
        return (not self.transport.is_closing() and self.conn.their_state is h11.IDLE
                and (self.cycle is None or self.cycle.response_complete))

    def evict(self) -> None:
        """Close to make room: a 408 if part of a head had arrived, else silently (keep-alive)."""
        self._cancel_deadline()
        if self.conn.trailing_data[0]:
            self.transport.write(TIMEOUT)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if not self._admitted:  # refused: nothing it sends is read
            return
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._send_deadline is None:
            self._send_deadline = self.loop.call_later(self.guard.send_timeout_s,
                                                       self._send_expired)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_send_deadline()

    def _cancel_send_deadline(self) -> None:
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None

    def _send_expired(self) -> None:
        self._send_deadline = None
        self.guard.timed_out += 1
        self.transport.abort()  # close() would wait for the buffer the client is not reading

    def _watch(self) -> None:
        """Arm the deadline for what the client owes now: a head (IDLE) or a body (SEND_BODY)."""
        if self.transport.is_closing():
            return self._cancel_deadline()
        state = self.conn.their_state
        if state is self._waiting_for:
            return  # the deadline already running for this state keeps running
        self._cancel_deadline()
        if state is h11.IDLE:
            delay = self.guard.header_timeout_s
        elif state is h11.SEND_BODY:
            delay = self.guard.body_timeout_s
        else:  # DONE / MUST_CLOSE / ...: the client owes nothing; the app's time is not ours
            return
        self._waiting_for = state
        self._deadline = self.loop.call_later(delay, self._expired)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._waiting_for = None, None

    def _expired(self) -> None:
        waiting_for_head = self._waiting_for is h11.IDLE
        self._deadline, self._waiting_for = None, None
        if self.transport.is_closing():
            return
        self.guard.timed_out += 1
        if waiting_for_head or self.cycle is None or not self.cycle.response_started:
            self.transport.write(TIMEOUT)
        if self.cycle is not None:
            self.cycle.keep_alive = False
        self.transport.close()
