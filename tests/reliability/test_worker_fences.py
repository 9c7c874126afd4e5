"""The decode workers' fences: a memory cap and a per-file time limit turn a file that would eat
the machine or hang the ingest into a per-file error, and the rest of the batch still works."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hostile_corpus import png_raw
from relsupport import StallingPreprocessor, png_bytes

from jointspace.ingest.items import SourceItem
from jointspace.ingest.pipeline import PrepareOptions, prepare_batches

pytestmark = pytest.mark.timeout(120)


def _items(tmp_path: Path, special: bytes) -> list[SourceItem]:
    paths = []
    for n in range(5):
        p = tmp_path / f"good-{n}.png"
        p.write_bytes(png_bytes(n))
        paths.append(p)
    bad = tmp_path / "special.png"
    bad.write_bytes(special)
    paths.insert(2, bad)
    return [SourceItem(key=str(p), kind="image", path=str(p)) for p in paths]


def _run(items, opts, batch=3, workers=1):
    batches = [items[i : i + batch] for i in range(0, len(items), batch)]
    t0 = time.monotonic()
    out = [p for b in prepare_batches(batches, opts, workers=workers) for p in b]
    return {Path(p.item.path).name: p for p in out}, time.monotonic() - t0


def test_memory_cap_turns_a_memory_hog_into_a_file_error(tmp_path):
    from jointspace.models.hashing import GridPreprocessor

    hog = png_raw(7000, 7000, 8, 0, None, 7000)  # 49 MP of zeros: ~150 MB as RGB, 60 kB on disk
    opts = PrepareOptions(GridPreprocessor(4), memory_limit=64 * 1024**2)
    got, _ = _run(_items(tmp_path, hog), opts)
    assert got["special.png"].error and "memory" in got["special.png"].error + "died", got
    assert all(p.error is None for n, p in got.items() if n != "special.png")
    uncapped, _ = _run(_items(tmp_path, hog), PrepareOptions(GridPreprocessor(4)))
    assert uncapped["special.png"].error is None  # the same file is fine without the cap


@pytest.mark.parametrize("block_alarm", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["python", "stuck-in-c"])
def test_time_limit_skips_a_stalling_file(tmp_path, block_alarm):
    stall = png_bytes(99, size=(17, 9))
    opts = PrepareOptions(StallingPreprocessor(17, 60, block_alarm), timeout_s=0.5)
    got, seconds = _run(_items(tmp_path, stall), opts)
    assert "longer than 0.5 s" in (got["special.png"].error or ""), got["special.png"]
    assert all(p.error is None and p.array is not None
               for n, p in got.items() if n != "special.png")
    assert seconds < 20, f"took {seconds:.1f} s"
