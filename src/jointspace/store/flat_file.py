"""The flat index's snapshot file: item ids and float32 vectors, both 64-byte aligned.

faiss's own format puts a flat index's floats at an odd file offset, so a memory map of it gives
numpy a misaligned array, and numpy's matmul then leaves BLAS for a scalar loop: 0.45-0.65 s for
one query over 100k x 512 instead of ~10 ms (measured in ``benchmarks/exact_search.py``: "opened afresh").
This layout maps straight into aligned numpy views:

    offset 0   b"JSFLAT01", n (int64), d (int64), zero padding to 64 bytes
    offset 64  n item ids, int64
    then       zero padding to a multiple of 64, n x d float32 vectors, row-major
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

MAGIC = b"JSFLAT01"
FORMAT = "jsflat-1"  # the snapshot metadata's "format" for this layout
_HEADER = 64
_ALIGN = 64
_WRITE_ROWS = 1 << 16  # vectors written per chunk: no second copy of a multi-GB index


def vectors_offset(n: int) -> int:
    end = _HEADER + 8 * n
    return -(-end // _ALIGN) * _ALIGN


def file_size(n: int, d: int) -> int:
    return vectors_offset(n) + 4 * n * d


def write(f: BinaryIO, ids: np.ndarray, vectors: np.ndarray) -> None:
    """Write ``ids`` (n) and ``vectors`` (n x d float32) to the open binary file ``f``."""
    n, d = vectors.shape
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} vectors")
    header = MAGIC + np.array([n, d], "<i8").tobytes()
    f.write(header.ljust(_HEADER, b"\0"))
    f.write(np.ascontiguousarray(ids, "<i8").tobytes())
    f.write(b"\0" * (vectors_offset(n) - _HEADER - 8 * n))
    for start in range(0, n, _WRITE_ROWS):
        f.write(memoryview(np.ascontiguousarray(vectors[start:start + _WRITE_ROWS], "<f4")))


def read(path: Path, mapped: bool) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors): views of a read-only memory map, or arrays read into memory.

    Raises ValueError if the file is not this format or its size does not match its header.
    """
    with open(path, "rb") as f:
        head = f.read(_HEADER)
        if len(head) < _HEADER or head[:8] != MAGIC:
            raise ValueError(f"{path} is not a jointspace flat snapshot")
        n, d = (int(v) for v in np.frombuffer(head, "<i8", 2, 8))
        if n < 0 or d <= 0 or path.stat().st_size != file_size(n, d):
            raise ValueError(f"{path} has the wrong size for {n} x {d} vectors")
        if not mapped:
            f.seek(_HEADER)
            ids = np.fromfile(f, "<i8", n)
            f.seek(vectors_offset(n))
            vectors = np.fromfile(f, "<f4", n * d).reshape(n, d)
            return ids, vectors
    if n == 0:
        return np.zeros(0, np.int64), np.zeros((0, d), np.float32)
    whole = np.memmap(path, np.uint8, mode="r")
    ids = whole[_HEADER:_HEADER + 8 * n].view("<i8")
    start = vectors_offset(n)
    vectors = whole[start:start + 4 * n * d].view("<f4").reshape(n, d)
    return ids, vectors
