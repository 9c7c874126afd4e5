"""Concurrency: searches while an ingest writes (library threads, CLI processes, the HTTP service),
two writers refused or serialised, several processes creating one collection at once.

Visibility rule checked on every search: an item whose commit was acknowledged before the search
started is found (its own text is its top-1); an item whose removal was acknowledged before the
search started is never returned. Any exception in a reader fails the test.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from relsupport import (
    HERE,
    FreshEmbeddings,
    ImageCorpus,
    jointspace_exe,
    ram_dir,
    verify_collection,
)

from jointspace.query import Collection

ROUNDS, PER_ROUND = 24, 12


@pytest.fixture
def tmp_path(tmp_path):
    """These runs live in RAM where possible: see ``relsupport.ram_dir``."""
    with ram_dir(tmp_path) as path:
        yield path
WORDS = ["red", "green", "blue", "cat", "dog", "tree", "river", "stone", "cloud", "lamp",
         "ship", "road", "bird", "fish", "moon", "sun"]


def _plan_file(tmp: Path, name: str, plan: dict) -> list[str]:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(plan))
    return [sys.executable, str(HERE / "crash_child.py"), str(path)]


class Ledger:
    """Which keys were acknowledged added / removed, and when (monotonic clock)."""

    def __init__(self, ops: list[tuple[str, dict[str, str]]]) -> None:
        self.ops = ops  # per op: ("add" | "remove", {key: text})
        self.acked: list[float | None] = [None] * len(ops)
        self.removed_by = {k: i for i, (kind, keys) in enumerate(ops) if kind == "remove"
                           for k in keys}

    def ack(self, op: int) -> None:
        self.acked[op] = time.monotonic()

    def expectations(self, rng: np.random.Generator) -> tuple[str, bool] | None:
        """A text and whether it must be found, judged by the acks seen so far."""
        done = [i for i, t in enumerate(self.acked) if t is not None]
        if not done:
            return None
        # The writer may already be several ops past the last ack the reader saw, so only keys
        # that are never removed are expected present.
        present, absent = [], []
        for i in done:
            kind, keys = self.ops[i]
            for key, text in keys.items():
                if kind == "remove":
                    absent.append(text)
                elif key not in self.removed_by:
                    present.append(text)
        pool = [(t, True) for t in present] + [(t, False) for t in absent]
        return pool[int(rng.integers(len(pool)))] if pool else None


def _workload(rng: np.random.Generator, rounds: int = ROUNDS,
              pause: float = 0.0) -> tuple[list[dict], Ledger]:
    """Add/remove ops and their ledger; ``pause`` paces the writer so that the readers overlap
    every op however fast the machine writes."""
    ops, ledger_ops, adds = [], [], []
    for r in range(rounds):
        items = {f"r{r:02d}-{i:02d}": " ".join(rng.choice(WORDS, 3).tolist()) + f" u{r}x{i}"
                 for i in range(PER_ROUND)}
        ops.append({"op": "texts", "items": items, "batch": 2, "lock_timeout": 30,
                    "pause_after": pause})
        adds.append({f"texts#{k}": v for k, v in items.items()})
        ledger_ops.append(("add", adds[-1]))
        if r >= 2:  # remove half of an older round; the other half stays for good
            old = dict(list(adds[r - 2].items())[: PER_ROUND // 2])
            keys = ", ".join(f'"{k}"' for k in old)
            ops.append({"op": "remove", "where": f"key in ({keys})", "lock_timeout": 30,
                        "pause_after": pause})
            ledger_ops.append(("remove", dict(old)))
    return ops, Ledger(ledger_ops)


def _reader(search, ledger: Ledger, stop: threading.Event, stats: dict, seed: int) -> None:
    """Loop: pick an expectation, search its text, check it; record errors, never raise."""
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        want = ledger.expectations(rng)
        if want is None:
            time.sleep(0.01)
            continue
        text, present = want
        try:
            texts = search(text)
            if present:
                assert texts and texts[0] == text, f"acknowledged {text!r} not found: {texts}"
            else:
                assert text not in texts, f"acknowledged removal {text!r} still returned"
            stats["searches"] += 1
            time.sleep(0.002)  # leave the writer some CPU on a 2-core machine
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and fails the test
            stats["errors"].append(f"{type(exc).__name__}: {exc}")


def _lib_search(col: Collection):
    return lambda text: [h.text for h in col.search(text, k=5)]


def _cli_search(col_dir: Path):
    def search(text: str) -> list[str]:
        out = subprocess.run([jointspace_exe(), "search", text, "-c", str(col_dir), "-k", "5",
                              "--json"], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        return [h["text"] for h in json.loads(out.stdout)["results"]]
    return search


def _http_search(base: str, name: str):
    import httpx

    client = httpx.Client(base_url=base, timeout=30)

    def search(text: str) -> list[str]:
        r = client.get(f"/api/collections/{name}/search", params={"q": text, "k": 5})
        assert r.status_code == 200, r.text
        return [h["text"] for h in r.json()["results"]]
    return search


def _run_writer_process(tmp_path, col_dir, ops, ledger) -> tuple[float, str]:
    argv = _plan_file(tmp_path, "writer", {"collection": str(col_dir), "model": "hash:64",
                                           "ops": ops})
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=HERE)
    t0 = time.monotonic()
    for line in proc.stdout:
        if line.startswith("ACK "):
            ledger.ack(int(line.split()[1]))
    proc.wait(120)
    return time.monotonic() - t0, proc.stderr.read()


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("readers", ["library", "cli", "service"])
def test_searches_during_ingest_see_commits_and_removals(tmp_path, readers):
    rng = np.random.default_rng(4)
    col_dir = tmp_path / "col"
    with Collection.create(col_dir, "hash:64") as col:
        col.add_texts(["seed text one", "seed text two"])
    # a CLI search is a whole process start (~1-2 s): pace the writer to leave room for several
    ops, ledger = _workload(rng, pause=0.5 if readers == "cli" else 0.15)
    stop, stats = threading.Event(), {"searches": 0, "errors": []}
    opened, searches = [], []
    if readers == "library":
        shared = Collection.open(col_dir, readonly=True)  # two threads share one object
        own = Collection.open(col_dir)  # a writable-mode object in a third thread
        opened += [shared, own]
        searches = [_lib_search(shared), _lib_search(shared), _lib_search(own)]
    elif readers == "cli":
        searches = [_cli_search(col_dir)]
    else:
        pytest.importorskip("uvicorn")
        from jointspace.serve.run import build, serving_in_thread
        from jointspace.serve.settings import ServeSettings

        settings = ServeSettings(log_level="warning")
        app, state = build([str(col_dir)], settings)
        server = serving_in_thread(app, state, settings)
        base = server.__enter__()
        opened.append(_Closer(lambda: (server.__exit__(None, None, None), state.close())))
        searches = [_http_search(base, "col") for _ in range(3)]
    threads = [threading.Thread(target=_reader, args=(s, ledger, stop, stats, n))
               for n, s in enumerate(searches)]
    for t in threads:
        t.start()
    try:
        seconds, err = _run_writer_process(tmp_path, col_dir, ops, ledger)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        for c in opened:
            c.close()
    assert all(t is not None for t in ledger.acked), err[-3000:]
    assert not stats["errors"], stats["errors"][:5]
    assert stats["searches"] >= (5 if readers == "cli" else 20), stats
    print(f"\n{readers}: {stats['searches']} searches during a {seconds:.1f} s ingest "
          f"({len(ops)} write ops), 0 errors")


class _Closer:
    def __init__(self, fn) -> None:
        self.close = fn


@pytest.mark.timeout(120)
def test_same_process_writer_and_reader_threads(tmp_path):
    """One Collection object written by one thread and searched by others at the same time."""
    rng = np.random.default_rng(8)
    col = Collection.create(tmp_path / "col", "hash:64")
    col.add_texts(["seed"])
    ops, ledger = _workload(rng)
    stop, stats = threading.Event(), {"searches": 0, "errors": []}
    other = Collection.open(tmp_path / "col", readonly=True)
    threads = [threading.Thread(target=_reader, args=(_lib_search(c), ledger, stop, stats, n))
               for n, c in enumerate([col, col, other])]
    for t in threads:
        t.start()
    try:
        for n, op in enumerate(ops):
            if op["op"] == "texts":
                ids = sorted(op["items"])
                col.add_texts([op["items"][i] for i in ids], ids=ids)
            else:
                col.remove(where=op["where"])
            ledger.ack(n)
            time.sleep(0.02)  # pacing: the readers overlap every op however fast the writes are
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        col.close()
        other.close()
    assert not stats["errors"], stats["errors"][:5]
    assert stats["searches"] >= 10, stats  # the readers really overlapped the writes


# --- writers ---------------------------------------------------------------------------------
def _sync_plan(tmp, name, col_dir, folder, wait, start_at=0.0, model="hash:64"):
    return _plan_file(tmp, name, {"collection": str(col_dir), "model": model, "start_at": start_at,
                                  "ops": [{"op": "sync", "folder": str(folder), "batch": 1,
                                           "workers": 0, "lock_timeout": wait}]})


@pytest.fixture
def two_folders(tmp_path):
    from jointspace.models import load_embedder

    rng = np.random.default_rng(12)
    a, b = ImageCorpus(tmp_path / "a", rng), ImageCorpus(tmp_path / "b", rng)
    a.add(150)
    b.add(40)
    blobs = a.blobs | b.blobs
    fresh = {m: FreshEmbeddings(load_embedder(m), blobs) for m in ("hash:64", "hash:32")}
    return a, b, fresh


@pytest.mark.timeout(120)
def test_second_writer_is_refused_or_serialised(tmp_path, two_folders):
    a, b, fresh = two_folders
    universe, both = set(a.files) | set(b.files), a.files | b.files
    for wait, name in ((0.0, "refused"), (60.0, "serialised")):
        col_dir = tmp_path / name
        start = time.time() + 1.5
        procs = [subprocess.Popen(_sync_plan(tmp_path, f"{name}{n}", col_dir, f.root, wait, start),
                                  cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for n, f in enumerate((a, b))]
        outs = [p.communicate(timeout=100) for p in procs]
        codes = sorted(p.returncode for p in procs)
        if wait == 0.0:  # both start at once without waiting: exactly one gets the lock
            assert codes == [0, 3], [(o[-1500:], e[-1500:]) for o, e in outs]
            loser = outs[[p.returncode for p in procs].index(3)][0]
            assert "ERROR CollectionLockedError" in loser
            winner = a if procs[0].returncode == 0 else b
            verify_collection(col_dir, fresh["hash:64"], universe=universe,
                              must_have=winner.files, exact=True)
            continue
        assert codes == [0, 0], [(o[-1500:], e[-1500:]) for o, e in outs]
        rows = verify_collection(col_dir, fresh["hash:64"], universe=universe, must_have=both,
                                 exact=True)
        # serialised, not interleaved: every batch of one writer precedes all of the other's
        seqs = [[r.seq for r in rows if r.key in f.files] for f in (a, b)]
        assert max(seqs[0]) < min(seqs[1]) or max(seqs[1]) < min(seqs[0]), "interleaved"


@pytest.mark.timeout(60)
def test_cli_writers_are_refused_while_another_writes(tmp_path, two_folders):
    a, _, _ = two_folders
    col_dir = tmp_path / "col"
    with Collection.create(col_dir, "hash:64") as col:
        col.add_texts(["one", "two"])
    holder = subprocess.Popen(
        _plan_file(tmp_path, "hold", {"collection": str(col_dir), "model": "hash:64",
                                      "ops": [{"op": "hold", "seconds": 30}]}),
        cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in holder.stdout:
            if line.strip() == "HOLDING":
                break
        for args in (["index", str(a.root)], ["remove", "1"], ["check", "--repair"]):
            argv = [jointspace_exe(), *args, "-c", str(col_dir), "--json"]
            if args[0] == "check":
                argv = [jointspace_exe(), "check", str(col_dir), "--repair", "--json"]
            out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
            assert out.returncode == 1 and "CollectionLockedError" in out.stdout, out
            assert "Traceback" not in out.stderr
        search = subprocess.run([jointspace_exe(), "search", "one", "-c", str(col_dir), "--json"],
                                capture_output=True, text=True, check=False, timeout=60)
        assert search.returncode == 0 and json.loads(search.stdout)["results"]
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_processes_creating_one_collection_at_once(tmp_path, two_folders):
    """Four processes create + fill the same new directory at the same instant (three with
    hash:64, one with hash:32): no crash, no lost or mixed writes, the loser model refused."""
    a, b, fresh = two_folders
    for round_ in range(3):
        col_dir = tmp_path / f"col{round_}"
        start = time.time() + 2.0
        folders = [a.root, b.root, a.root, b.root]
        models = ["hash:64", "hash:64", "hash:32" if round_ != 1 else "hash:64", "hash:64"]
        procs = [subprocess.Popen(_sync_plan(tmp_path, f"c{n}", col_dir, f, 60, start, m),
                                  cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for n, (f, m) in enumerate(zip(folders, models))]
        outs = [p.communicate(timeout=100) for p in procs]
        with Collection.open(col_dir, readonly=True) as col:
            won = col.store.model
        expected: dict[str, str] = {}
        for p, (out, err), m, f in zip(procs, outs, models, folders):
            if m == won:
                assert p.returncode == 0, err[-3000:]
                expected |= a.files if f == a.root else b.files
            else:
                assert p.returncode == 3 and "ModelMismatchError" in out, out + err[-2000:]
        verify_collection(col_dir, fresh[won], universe=set(a.files) | set(b.files),
                          must_have=expected, exact=True)


@pytest.mark.timeout(60)
def test_compaction_while_searching(tmp_path):
    """VACUUM + tombstone purge under a reader that keeps searching: no errors, full pages."""
    from jointspace.store.compact import compact_collection

    with Collection.create(tmp_path / "col", "hash:64") as col:
        col.add_texts([f"text {i} word{i % 7}" for i in range(2000)])
        col.remove(list(range(1, 1000)))
    stop, errors, done = threading.Event(), [], [0]

    def read() -> None:
        with Collection.open(tmp_path / "col", readonly=True) as r:
            while not stop.is_set():
                try:
                    hits = r.search("text word3", k=10)
                    assert len(hits) == 10 and all(h.id >= 1000 for h in hits)
                    done[0] += 1
                except Exception as exc:  # noqa: BLE001 - recorded, fails the test below
                    errors.append(repr(exc))

    def searches_reach(n: int) -> None:  # waits on the reader's progress, bounded
        deadline = time.monotonic() + 30
        while done[0] < n and not errors:
            assert thread.is_alive() and time.monotonic() < deadline, f"{done[0]} searches"
            time.sleep(0.005)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        searches_reach(5)  # the reader is running before compaction starts ...
        out = compact_collection(tmp_path / "col")
        searches_reach(done[0] + 5)  # ... and keeps finding full pages after it
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors[:3]
    assert out["tombstones_removed"] == 999 and out["bytes_after"] < out["bytes_before"]
