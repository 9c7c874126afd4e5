"""The hostile-file corpus through ``Collection.add`` and the CLI: every file yields a per-file error
with its reason or an embedding equal to a plain-Pillow decode of it; the batch completes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hostile_corpus import build_hostile_corpus
from relsupport import jointspace_exe, read_rows, register_rowhash

from jointspace.query import Collection
from jointspace.query.indexing import printable

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    return root / "corpus", build_hostile_corpus(root)


def _name(path: str, corpus: Path) -> str:
    return path[len(str(corpus)) + 1 :]


def _outcomes(report, rows, corpus, expect):
    errors = {_name(e.path, corpus): e.reason for e in report.errors}
    stored = {_name(r.key, corpus): r for r in rows}
    return {printable(n): (errors.get(printable(n)), stored.get(printable(n))) for n in expect}


@pytest.mark.parametrize("workers", [None, 0])
def test_every_hostile_file_is_an_error_or_a_correct_embedding(hostile, tmp_path, workers):
    corpus, expect = hostile
    register_rowhash()
    with Collection.create(tmp_path / "col", "rowhash:64") as col:
        report = col.add(corpus, batch_size=8, workers=workers)
        persisted = {_name(e.path, corpus): e.reason for e in col.errors()}
        prep = col.embedder.image_preprocessor()
        embed = col.embedder.embed_preprocessed
    rows = read_rows(tmp_path / "col")
    outcome = _outcomes(report, rows, corpus, expect)
    table = defaultdict(list)
    for name, exp in expect.items():
        error, row = outcome[printable(name)]
        assert (error is None) != (row is None), f"{name}: must be exactly one of error/embedded"
        if exp.reason is None or (exp.maybe_ok and row is not None):
            assert row is not None, f"{name} ({exp.kind}) failed: {error}"
            if exp.reference is not None:
                want = embed(np.stack([prep(exp.reference())]))[0]
                assert row.vector.tobytes() == want.tobytes(), f"{name}: wrong embedding"
            table[exp.kind].append("embedded")
        else:
            assert error is not None, f"{name} ({exp.kind}) was embedded, expected an error"
            assert re.search(exp.reason, error), f"{name}: reason {error!r}"
            table[exp.kind].append("error")
    assert persisted == {n: e for n, (e, _) in outcome.items() if e is not None}
    assert report.added + report.failed == len(expect)
    print(f"\nhostile corpus ({len(expect)} files, workers={workers}):")
    for kind, results in sorted(table.items()):
        print(f"  {kind:28s} {len(results)} file(s): {', '.join(sorted(set(results)))}")


def test_rerun_is_stable(hostile, tmp_path):
    """A second sync re-reports the bad files once each and leaves the good ones unchanged."""
    corpus, _ = hostile
    with Collection.create(tmp_path / "col", "hash:64") as col:
        first = col.add(corpus, batch_size=8)
        second = col.add(corpus, batch_size=8)
        assert second.added == second.updated == 0
        assert second.unchanged == first.added
        assert second.failed == first.failed
        assert len(col.errors()) == first.failed


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to drop capabilities")
def test_cli_without_privileges_reports_unreadable_files(hostile, tmp_path):
    """As root *without* capabilities the chmod-000 file is really unreadable: a per-file error.
    The CLI's own peak memory stays small although the corpus holds decompression bombs."""
    corpus, expect = hostile
    argv = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", "--", jointspace_exe(), "index",
            str(corpus), "-c", str(tmp_path / "col"), "-m", "hash:64", "--json"]
    # Measured from a small launcher: a child's peak RSS counts the memory of the process it was
    # forked from (Linux keeps the high-water mark across exec), and pytest itself can be large.
    launcher = ("import json, resource, subprocess, sys; p = subprocess.run(sys.argv[1:], "
                "capture_output=True, text=True); print(json.dumps([p.returncode, p.stdout, "
                "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    done = subprocess.run([sys.executable, "-c", launcher, *argv], capture_output=True,
                          text=True, check=True)
    code, stdout, maxrss = json.loads(done.stdout)
    out = json.loads(stdout)
    assert code == 0, out
    reasons = {_name(e["path"], corpus): e["reason"] for e in out["errors"]}
    assert "Permission denied" in reasons["unreadable.png"]
    assert out["added"] + out["failed"] == len(expect)
    assert maxrss < 1_500_000, f"CLI peak RSS {maxrss} kB"
    print(f"\nCLI hostile ingest: peak RSS {maxrss / 1024:.0f} MB, "
          f"{out['added']} embedded, {out['failed']} errors")
