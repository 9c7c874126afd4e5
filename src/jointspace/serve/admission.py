"""Admission: at most ``capacity`` model (or image) requests at once; the rest get 503 + Retry-After."""

from __future__ import annotations

import threading

from jointspace.errors import JointspaceError

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
