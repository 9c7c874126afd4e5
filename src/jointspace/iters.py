"""Small iteration helpers shared across the package (``itertools.batched`` arrives in 3.12)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def batched(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``values`` of at most ``size`` items (the last may be shorter)."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for i in range(0, len(values), size):
        yield values[i : i + size]
