"""Crasher: SIGKILL ingest / update / delete at seeded random moments, then prove nothing was lost.

Each cycle mutates an image folder and a set of texts, runs ``remove -> texts -> sync`` in a child
process, kills its process group at a random time, checks every invariant on the wreck (opens; no
missing, phantom or duplicate ids; acknowledged work present; vectors bit-identical to a fresh
embedding; count == full index scan; each item its own top-1), then re-runs the plan to completion
and checks it did exactly the remaining work.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from relsupport import (
    HERE,
    FreshEmbeddings,
    ImageCorpus,
    ram_dir,
    read_rows,
    register_rowhash,
    run_child,
    sha256,
    verify_collection,
)

CYCLES = int(os.environ.get("JOINTSPACE_CRASH_CYCLES", "20"))


@pytest.fixture
def tmp_path(tmp_path):
    """These runs live in RAM where possible: see ``relsupport.ram_dir``."""
    with ram_dir(tmp_path) as path:
        yield path
WORDS = ["red", "green", "blue", "cat", "dog", "tree", "river", "stone", "cloud", "lamp",
         "ship", "road", "bird", "fish", "moon", "sun", "apple", "chair", "glass", "paper"]


class TextSet:
    """Texts keyed by id, each a distinct bag of words; ``blobs`` gets every version."""

    def __init__(self, rng: np.random.Generator, blobs: dict[str, bytes]) -> None:
        self.rng, self.blobs, self.items, self._next = rng, blobs, {}, 0
        self.changed: set[str] = set()  # ids added or rewritten since the last ``take``

    def take(self, also: set[str]) -> dict[str, str]:
        """The changed texts (plus ``also``), to send in this cycle's op."""
        ids, self.changed = self.changed | also, set()
        return {tid: self.items[tid] for tid in sorted(ids)}

    def _text(self) -> str:
        words = self.rng.choice(WORDS, 4, replace=False).tolist()
        return " ".join(words) + f" n{self.rng.integers(0, 10**9)}"

    def _set(self, tid: str) -> None:
        text = self._text()
        self.items[tid] = text
        self.blobs[sha256(text.encode())] = text.encode()
        self.changed.add(tid)

    def add(self, n: int) -> None:
        for _ in range(n):
            self._set(f"t{self._next:05d}")
            self._next += 1

    def modify(self, n: int) -> None:
        ids = sorted(self.items)
        for i in self.rng.choice(len(ids), min(n, len(ids)), replace=False):
            self._set(ids[int(i)])

    def expected(self, ids=None) -> dict[str, str]:
        return {f"texts#{tid}": sha256(t.encode()) for tid, t in self.items.items()
                if ids is None or tid in ids}


def _plan(col: Path, model: str, ops: list[dict], tmp: Path) -> list[str]:
    path = tmp / "plan.json"
    path.write_text(json.dumps({"collection": str(col), "model": model, "ops": ops}))
    return [sys.executable, str(HERE / "crash_child.py"), str(path)]


def _expected_counts(rows, files: dict[str, str], folder_id: str) -> dict[str, int]:
    have = {r.key: r.sha256 for r in rows}
    added = sum(k not in have for k in files)
    updated = sum(k in have and have[k] != sha for k, sha in files.items())
    removed = sum(r.source == folder_id and r.key not in files for r in rows)
    return {"added": added, "updated": updated, "unchanged": len(files) - added - updated,
            "removed": removed}


def _text_counts(rows, expected: dict[str, str]) -> dict[str, int]:
    have = {r.key: r.sha256 for r in rows}
    added = sum(k not in have for k in expected)
    updated = sum(k in have and have[k] != sha for k, sha in expected.items())
    return {"added": added, "updated": updated, "unchanged": len(expected) - added - updated}


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(("model", "batches", "seed"), [("hash:64", (1, 1), 1),
                                                        ("rowhash:64", (2, 8), 2)])
def test_kill_during_ingest_update_delete(tmp_path, model, batches, seed):
    from jointspace.models import load_embedder

    register_rowhash()
    rng = np.random.default_rng(seed)
    corpus = ImageCorpus(tmp_path / "imgs", rng)
    corpus.add(40)
    texts = TextSet(rng, corpus.blobs)
    texts.add(10)
    col = tmp_path / "col"
    folder_id = str(corpus.root.resolve())
    fresh = FreshEmbeddings(load_embedder(model), corpus.blobs)
    universe: set[str] = set()
    gone_ids: set[int] = set()
    est, phases, cycle = 1.5, Counter(), 0
    while phases.total() - phases["after it finished"] < CYCLES:  # CYCLES real kills
        cycle += 1
        assert cycle <= 3 * CYCLES, f"too few runs were killed mid-way: {dict(phases)}"
        corpus.add(int(rng.integers(5, 25)))
        corpus.modify(int(rng.integers(0, 8)))
        corpus.delete(int(rng.integers(0, 5)))
        texts.add(int(rng.integers(2, 8)))
        texts.modify(int(rng.integers(0, 3)))
        universe |= set(corpus.files) | set(texts.expected())
        rows = read_rows(col) if col.exists() else []
        victims = sorted(int(r.id) for r in rng.permutation(rows)[: int(rng.integers(0, 5))]) \
            if rows else []
        batch = int(rng.integers(batches[0], batches[1] + 1))
        sync = {"op": "sync", "folder": str(corpus.root), "batch": batch,
                "workers": int(rng.integers(0, 2))}
        removed_texts = {r.key.split("#", 1)[1] for r in rows
                         if r.id in set(victims) and r.key.startswith("texts#")}
        text_op = {"op": "texts", "items": texts.take(removed_texts), "batch": batch}
        ops = [{"op": "remove", "ids": victims}, text_op, sync]

        run = run_child(_plan(col, model, ops, tmp_path), kill_after=float(rng.uniform(0, est)))
        assert run.killed or run.finished, run.stderr[-3000:]
        phases[_phase(run)] += 1
        # aim the next kill inside the run: shrink to a run that finished, else drift later
        est = 0.9 * run.elapsed if run.finished else min(est * 1.1, 6.0)
        must_have: dict[str, str] = {}
        # folder images removed by hand stay out of re-syncs while unchanged (issue 12)
        files_now = {k: v for k, v in corpus.files.items()
                     if k not in _excluded(col, folder_id)}
        if run.acked(0) is not None:
            gone_ids |= set(victims)
        if run.acked(1) is not None:
            must_have |= texts.expected()
        if run.acked(2) is not None:
            must_have |= files_now
        rows = verify_collection(col, fresh, universe=universe, must_have=must_have,
                                 gone_ids=gone_ids)
        done = run.progress(2)  # batches of the sync acknowledged so far
        if done is not None:
            current = sum(corpus.files.get(r.key) == r.sha256 for r in rows)
            assert current >= done, f"cycle {cycle}: {done} acknowledged, {current} stored"

        want_texts = _text_counts(rows, texts.expected(text_op["items"]))
        want_sync = _expected_counts(rows, files_now, folder_id)
        resume = run_child(_plan(col, model, [text_op, sync], tmp_path), kill_after=None)
        assert resume.finished, resume.stderr[-3000:]
        got_texts, got_sync = resume.acked(0), resume.acked(1)
        assert {k: got_texts[k] for k in want_texts} == want_texts, f"cycle {cycle}"
        assert {k: got_sync[k] for k in want_sync} == want_sync, f"cycle {cycle}"
        assert got_sync["failed"] == got_texts["failed"] == 0
        verify_collection(col, fresh, universe=universe, exact=True, gone_ids=gone_ids,
                          must_have=files_now | texts.expected())
    print(f"\n{model}: {cycle} cycles, {CYCLES} SIGKILLs survived; killed {dict(phases)}")


def _excluded(col: Path, source: str) -> set[str]:
    """Keys of ``source`` that a sync will skip: removed by hand, file unchanged since."""
    from jointspace.ingest.items import IMAGE, SourceItem
    from jointspace.query import Collection, exclusions

    if not (col / "collection.sqlite").exists():
        return set()
    with Collection.open(col, readonly=True) as c:
        state = exclusions.load(c.store).get(source, {})
    return {k for k, fp in state.items()
            if exclusions.unchanged(SourceItem(k, IMAGE, path=k), fp)}


def _phase(run) -> str:
    """Where the kill landed, judged by what the child acknowledged."""
    if run.finished:
        return "after it finished"
    if not any(line.startswith(("ACK", "PROG")) for line in run.lines):
        return "before any commit"
    if run.acked(1) is None:
        return "during remove/texts"
    return "during the folder sync"
