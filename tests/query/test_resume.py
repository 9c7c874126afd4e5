"""A killed `jointspace index` resumes without redoing committed batches."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

JS = str(Path(sys.executable).parent / "jointspace")


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return c.execute("SELECT count(*) FROM items").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_resume_after_sigkill(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    n = 400
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    col = tmp_path / "col"
    args = [JS, "index", str(photos), "-c", str(col), "--model", "hash:16", "--batch-size", "8",
            "--workers", "0", "--json"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while _count(col / "collection.sqlite") < 16 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = _count(col / "collection.sqlite")
    assert 16 <= committed < n, "the kill must land mid-run for this test to mean anything"

    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(out.stdout)
    assert report["unchanged"] == committed
    assert report["added"] == n - committed
    assert _count(col / "collection.sqlite") == n
    info = json.loads(subprocess.run([JS, "info", "-c", str(col), "--json"], capture_output=True,
                                     text=True, check=True).stdout)
    assert info["count"] == n
