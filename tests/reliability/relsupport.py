"""Shared helpers of the reliability suites: a mutable image corpus and an independent oracle.

The oracle reads ``collection.sqlite`` with plain ``sqlite3`` (not through jointspace) and re-embeds
every stored item from the exact bytes it was committed from, so it does not trust the code it
checks. ``rowhash:<dim>`` is the ``hash:<dim>`` embedder computed one row at a time: BLAS gives
last-bit differences between a row embedded alone and inside a batch, so only a batch-invariant
embedder lets "stored vector == fresh embedding" be checked bit for bit at any batch size.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def jointspace_exe() -> str:
    """The console script of this venv (``python -m jointspace.cli`` has no ``__main__``)."""
    exe = Path(sys.executable).parent / "jointspace"
    return str(exe) if exe.exists() else (shutil.which("jointspace") or "jointspace")


# --- a batch-invariant hash embedder ----------------------------------------------------------
def register_rowhash() -> None:
    """Make ``rowhash:<dim>`` loadable by name in this process (idempotent)."""
    from jointspace.models import register_backend

    register_backend("rowhash", _load_rowhash, replace=True)


def _load_rowhash(spec: str, **options):
    from jointspace.models.hashing import HashEmbedder

    class RowHashEmbedder(HashEmbedder):
        def __init__(self, dim: int) -> None:
            super().__init__(dim)
            self.name = f"rowhash:{dim}"

        def _embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
            rows = np.asarray(batch, dtype=np.float32)
            return np.stack([row @ self._image_proj for row in rows])

        def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
            one = super()._embed_text_batch
            return np.stack([one([t])[0] for t in texts])

    return RowHashEmbedder(int(spec))


# --- a corpus of small, distinct images ---------------------------------------------------
def png_bytes(seed: int, size: tuple[int, int] = (20, 16)) -> bytes:
    """A small random RGB PNG; distinct seeds give distinct, far-apart embeddings."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class ImageCorpus:
    """A flat folder of ``img-NNNNN.png`` files that a test adds to, rewrites and deletes from.

    ``blobs`` keeps every version ever written (sha256 -> bytes), so the oracle can re-embed a
    stored item even after its file changed.
    """

    root: Path
    rng: np.random.Generator
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> sha256 of content
    blobs: dict[str, bytes] = field(default_factory=dict)
    _next: int = 0

    def _write(self, path: Path) -> None:
        data = png_bytes(int(self.rng.integers(0, 2**62)))
        tmp = path.with_name(path.name + ".part")  # never leave a half-written image behind
        tmp.write_bytes(data)
        os.replace(tmp, path)
        # a rewrite must change the stat even within one timestamp tick
        old = self.files.get(str(path))
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + (1000 if old else 0)))
        sha = sha256(data)
        self.blobs[sha] = data
        self.files[str(path)] = sha

    def add(self, n: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(n):
            self._write(self.root / f"img-{self._next:05d}.png")
            self._next += 1

    def modify(self, n: int) -> None:
        for key in self._pick(n):
            self._write(Path(key))

    def delete(self, n: int) -> None:
        for key in self._pick(n):
            Path(key).unlink()
            del self.files[key]

    def _pick(self, n: int) -> list[str]:
        keys = sorted(self.files)
        n = min(n, len(keys))
        return [keys[i] for i in sorted(self.rng.choice(len(keys), n, replace=False))]


# --- the oracle ---------------------------------------------------------------------------
@dataclass
class Row:
    id: int
    key: str
    source: str
    kind: str
    sha256: str | None
    text: str | None
    vector: np.ndarray
    seq: int


def read_rows(col_dir: Path) -> list[Row]:
    """Every item row, read with plain sqlite3 (a read transaction, WAL-aware)."""
    conn = sqlite3.connect(f"file:{col_dir / 'collection.sqlite'}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(
            "SELECT id, key, source, kind, sha256, text, vector, seq FROM items ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    return [Row(r[0], r[1], r[2], r[3], r[4], r[5], np.frombuffer(r[6], np.float32), r[7])
            for r in rows]


class FreshEmbeddings:
    """Embeds content by sha256, once, the way ingest does (load_image -> preprocessor)."""

    def __init__(self, embedder, blobs: dict[str, bytes]) -> None:
        self.embedder, self.blobs = embedder, blobs
        self._cache: dict[str, np.ndarray] = {}

    def of(self, row: Row) -> np.ndarray:
        if row.sha256 not in self._cache:
            self._cache[row.sha256] = self._embed(row)
        return self._cache[row.sha256]

    def _embed(self, row: Row) -> np.ndarray:
        from jointspace.ingest.decode import load_image

        data = self.blobs[row.sha256]
        if row.kind == "text":
            return self.embedder.embed_texts([data.decode("utf-8")])[0]
        prep = self.embedder.image_preprocessor()
        return self.embedder.embed_preprocessed(np.stack([prep(load_image(data))]))[0]


def verify_collection(col_dir: Path, fresh: FreshEmbeddings, *,
                      universe: set[str], must_have: dict[str, str] | None = None,
                      gone_ids: set[int] | None = None, exact: bool = False) -> list[Row]:
    """Assert every crash-safety invariant of a collection; returns its rows.

    ``universe``: keys that may exist (no phantoms); ``must_have``: acknowledged key -> sha256;
    ``gone_ids``: acknowledged removals; ``exact``: the keys must be exactly ``must_have``.
    """
    from jointspace.query import Collection

    rows = read_rows(col_dir)
    ids = [r.id for r in rows]
    keys = [r.key for r in rows]
    assert len(set(ids)) == len(ids), "duplicate ids"
    assert len(set(keys)) == len(keys), "duplicate keys"
    phantoms = set(keys) - universe
    assert not phantoms, f"phantom keys never written: {sorted(phantoms)[:5]}"
    by_key = {r.key: r for r in rows}
    for key, sha in (must_have or {}).items():
        assert key in by_key, f"acknowledged item lost: {key}"
        assert by_key[key].sha256 == sha, f"acknowledged content of {key} not stored"
    if exact:
        assert set(keys) == set(must_have or {}), "extra items after a completed sync"
    resurrected = set(ids) & (gone_ids or set())
    assert not resurrected, f"acknowledged removals came back: {sorted(resurrected)[:5]}"
    for r in rows:
        expected = fresh.of(r)
        assert r.vector.tobytes() == expected.tobytes(), f"vector of {r.key} is not bit-identical"

    with Collection.open(col_dir, readonly=True) as col:
        assert col.count() == len(rows)
        if rows:
            probe = rows[0].vector
            scan = col.store.search(probe[None, :], len(rows) + 10)[0]
            found = [i for i, _ in scan]
            assert len(found) == len(set(found)), "the index returns an id twice"
            assert set(found) == set(ids), (
                f"index vs truth: missing {sorted(set(ids) - set(found))[:5]}, "
                f"phantom {sorted(set(found) - set(ids))[:5]}")
            for r in rows:
                # plain ranking: the invariant is the store's, not modality balancing's
                top = col.search_vector(r.vector, k=1, balance_modalities=False)
                assert top and top[0].id == r.id, f"{r.key} is not its own top-1"
    return rows


# --- running (and killing) a child process ------------------------------------------------
@dataclass
class ChildRun:
    """What a child printed before it ended or was killed."""

    lines: list[str]
    killed: bool
    returncode: int
    stderr: str
    elapsed: float  # seconds from READY to the end

    def acked(self, op: int) -> dict | None:
        import json

        for line in self.lines:
            if line.startswith(f"ACK {op} "):
                return json.loads(line.split(" ", 2)[2])
        return None

    def progress(self, op: int) -> int | None:
        """The last acknowledged ``done`` count of op ``op``."""
        done = None
        for line in self.lines:
            parts = line.split()
            if parts[:2] == ["PROG", str(op)]:
                done = int(parts[2])
        return done

    @property
    def finished(self) -> bool:
        return "DONE" in self.lines


def run_child(argv: list[str], *, kill_after: float | None, timeout: float = 120.0,
              ready: str | None = "READY") -> ChildRun:
    """Run ``argv`` in its own process group; SIGKILL the group ``kill_after`` s after READY.

    With ``ready=None`` the clock starts at launch. Killing the whole group takes the decode
    workers down too, as a power cut would.
    """
    import signal
    import subprocess
    import threading
    import time

    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=HERE)
    lines: list[str] = []
    err: list[str] = []
    got_ready = threading.Event()
    t0 = [time.monotonic()]

    def read_out() -> None:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line == ready and not got_ready.is_set():
                t0[0] = time.monotonic()
                got_ready.set()
            lines.append(line)
        got_ready.set()

    readers = [threading.Thread(target=read_out, daemon=True),
               threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)]
    for t in readers:
        t.start()
    if ready is None:
        got_ready.set()
    killed = False
    try:
        if not got_ready.wait(timeout):
            raise TimeoutError(f"child never became ready: {''.join(err)[-2000:]}")
        if kill_after is not None:
            try:
                proc.wait(max(0.0, kill_after - (time.monotonic() - t0[0])))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    elapsed = time.monotonic() - t0[0]
    for t in readers:
        t.join(10)
    return ChildRun(lines, killed, proc.returncode, "".join(err), elapsed)


class StallingPreprocessor:
    """Picklable test preprocessor: images ``width`` px wide stall for ``seconds``, optionally
    with SIGALRM blocked (as if stuck in C code where no Python signal handler can run)."""

    def __init__(self, width: int, seconds: float, block_alarm: bool = False) -> None:
        self.width, self.seconds, self.block_alarm = width, seconds, block_alarm

    def __call__(self, image) -> np.ndarray:
        import signal
        import time

        if image.width == self.width:
            if self.block_alarm:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(self.seconds)
        return np.asarray(image.resize((4, 4)), np.float32).reshape(-1)


@contextmanager
def ram_dir(fallback: Path) -> Iterator[Path]:
    """A scratch directory in RAM (/dev/shm) when the machine has one, else ``fallback``.

    Surviving SIGKILL does not depend on fsync (the page cache outlives the process), and on a
    virtual disk each fsync costs ~30 ms, which made the kill and concurrency runs mostly waiting.
    Disk-level durability is exercised by the other suites, which stay on the real disk.
    """
    import tempfile

    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield fallback
        return
    path = Path(tempfile.mkdtemp(prefix="jointspace-rel-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
