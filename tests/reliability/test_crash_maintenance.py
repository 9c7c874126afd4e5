"""SIGKILL during index rebuild (`check --repair`) and compaction, and during the `index` CLI."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from relsupport import (
    HERE,
    FreshEmbeddings,
    ImageCorpus,
    jointspace_exe,
    ram_dir,
    read_rows,
    register_rowhash,
    run_child,
    verify_collection,
)

from jointspace.store.check import check_collection, orphan_files

CYCLES = 20


@pytest.fixture
def tmp_path(tmp_path):
    """These runs live in RAM where possible: see ``relsupport.ram_dir``."""
    with ram_dir(tmp_path) as path:
        yield path


@pytest.mark.timeout(240)
def test_kill_during_rebuild_and_compaction(tmp_path):
    from jointspace.models import load_embedder
    from jointspace.query import Collection

    register_rowhash()
    rng = np.random.default_rng(7)
    corpus = ImageCorpus(tmp_path / "imgs", rng)
    corpus.add(300)
    col_dir = tmp_path / "col"
    with Collection.create(col_dir, "rowhash:64") as col:
        col.add(corpus.root, batch_size=32, workers=0)
    fresh = FreshEmbeddings(load_embedder("rowhash:64"), corpus.blobs)
    universe = set(corpus.files)
    doomed: set[int] = set()
    gone: set[int] = set()
    codes: set[str] = set()
    kills, est, orphans_seen = 0, 0.0, 0
    for cycle in range(CYCLES):
        live = [r.id for r in read_rows(col_dir) if r.id not in doomed]
        victims = sorted(int(i) for i in rng.choice(live, 3, replace=False))
        doomed |= set(victims)
        ops = [{"op": "remove", "ids": victims}, {"op": "repair"}, {"op": "compact"}]
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps({"collection": str(col_dir), "model": "rowhash:64",
                                    "ops": ops, "repeat": 2}))
        # the first run is not killed: it measures how long a run takes
        run = run_child([sys.executable, str(HERE / "crash_child.py"), str(plan)],
                        kill_after=float(rng.uniform(0, est)) if est else None)
        est = est or run.elapsed
        assert run.killed or run.finished, run.stderr[-3000:]
        kills += run.killed
        if run.acked(0) is not None:
            gone |= set(victims)
        keep = {r.key: r.sha256 for r in read_rows(col_dir) if r.id not in doomed}
        verify_collection(col_dir, fresh, universe=universe, must_have=keep, gone_ids=gone)
        report = check_collection(col_dir)
        assert report.ok, f"cycle {cycle}: {report.findings}"
        codes |= {f.code for f in report.findings}
        orphans_seen += bool(orphan_files(col_dir))
    assert kills >= CYCLES // 2, f"only {kills} of {CYCLES} runs were killed mid-way"
    assert codes <= {"orphan-files", "snapshot-missing"}, codes
    # the next ordinary write (a remove saves a snapshot) cleans the killed runs' debris
    with Collection.open(col_dir) as col:
        col.remove([r.id for r in read_rows(col_dir)[:1]])
    assert orphan_files(col_dir) == []
    report = check_collection(col_dir, repair=True)
    assert report.ok and not report.findings, report.findings
    assert orphan_files(col_dir) == []
    print(f"\nrebuild/compaction: {kills} kills survived, {orphans_seen} left orphan files; "
          f"warnings seen: {sorted(codes)}")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_kill_the_index_cli(tmp_path):
    """The CLI path: `jointspace index` killed at random, then re-run to completion."""
    from jointspace.models import load_embedder

    rng = np.random.default_rng(11)
    corpus = ImageCorpus(tmp_path / "imgs", rng)
    corpus.add(60)
    col_dir = tmp_path / "col"
    fresh = FreshEmbeddings(load_embedder("hash:64"), corpus.blobs)
    argv = [jointspace_exe(), "index", str(corpus.root), "-c", str(col_dir), "-m", "hash:64",
            "--batch-size", "1", "--workers", "0", "--json"]
    universe: set[str] = set()
    est, killed = 2.0, 0
    for _cycle in range(8):
        corpus.add(int(rng.integers(40, 80)))
        corpus.modify(int(rng.integers(0, 6)))
        corpus.delete(int(rng.integers(0, 4)))
        universe |= set(corpus.files)
        run = run_child(argv, kill_after=float(rng.uniform(0, est)), ready=None)
        killed += run.killed
        acked = not run.killed and run.returncode == 0
        if col_dir.exists() and (col_dir / "collection.sqlite").exists():
            verify_collection(col_dir, fresh, universe=universe,
                              must_have=corpus.files if acked else None, exact=acked)
        done = run_child(argv, kill_after=None, ready=None)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(done.lines[-1])
        assert report["failed"] == 0
        verify_collection(col_dir, fresh, universe=universe, must_have=corpus.files, exact=True)
        est = est if run.killed else est * 0.8
    assert killed >= 3, f"only {killed} of 8 CLI runs were killed before finishing"
    print(f"\nindex CLI: {killed} of 8 runs SIGKILLed mid-way, all resumed exactly")


def test_debris_of_a_killed_snapshot_save_is_cleaned_by_the_next_save(tmp_path):
    """A kill inside ``_atomic_write`` leaves ``*.tmp`` files; the next save must remove them
    (a million-item collection would otherwise leak gigabytes per kill)."""
    from jointspace.query import Collection

    corpus = ImageCorpus(tmp_path / "imgs", np.random.default_rng(1))
    corpus.add(10)
    with Collection.create(tmp_path / "col", "hash:64") as col:
        col.add(corpus.root, workers=0)
        debris = [col.path / "index-000000000999.faiss.tmp", col.path / "index.json.tmp",
                  col.path / "index-000000000998.faiss"]
        for p in debris:
            p.write_bytes(b"partial")
        assert orphan_files(col.path) == sorted(debris)
        col.remove([1])
        assert orphan_files(col.path) == []
