"""Disk full and read-only collections: a loud, clear error; old data intact and searchable.

- Disk full is simulated two ways: RLIMIT_FSIZE in the child (works anywhere, SQLite sees EFBIG
  as an I/O error) and a size-limited tmpfs (real ENOSPC; needs mount rights, skipped otherwise).
- Read-only: a read-only bind mount (needs mount rights), and root *without capabilities*
  (``setpriv --bounding-set=-all``) on a ``chmod a-w`` collection — root ignores permission bits,
  a capability-less root does not, which stands in for another user (the venv's Python lives
  under /root, unreachable for ``nobody``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from relsupport import FreshEmbeddings, ImageCorpus, jointspace_exe, verify_collection

from jointspace.errors import CollectionError
from jointspace.models import load_embedder
from jointspace.query import Collection
from jointspace.store.check import check_collection

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def setup(tmp_path):
    """A collection of 60 images indexed one per batch (bit-exact oracle), 600 more waiting."""
    corpus = ImageCorpus(tmp_path / "imgs", np.random.default_rng(5))
    corpus.add(60)
    col_dir = tmp_path / "col"
    _cli("index", corpus.root, "-c", col_dir, "-m", "hash:64", "--batch-size", "1")
    acked = dict(corpus.files)
    corpus.add(600)
    fresh = FreshEmbeddings(load_embedder("hash:64"), corpus.blobs)
    return corpus, col_dir, acked, fresh


def _cli(*args, check: bool = True, preexec=None, prefix=()) -> subprocess.CompletedProcess:
    argv = [*prefix, jointspace_exe(), *map(str, args), "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, preexec_fn=preexec, timeout=100,
                         check=False)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def _assert_loud_error(out: subprocess.CompletedProcess, *words: str) -> dict:
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    err = json.loads(out.stdout.strip().splitlines()[-1])["error"]
    assert err["hint"], err
    text = (err["message"] + err["hint"]).lower()
    assert any(w in text for w in words), err
    return err


def _assert_intact(col_dir: Path, corpus, acked, fresh) -> None:
    verify_collection(col_dir, fresh, universe=set(corpus.files), must_have=acked)
    assert check_collection(col_dir).ok


def _index_argv(corpus, col_dir):
    return ("index", corpus.root, "-c", col_dir, "--batch-size", "1", "--workers", "0")


def test_file_size_limit_mid_ingest(setup):
    corpus, col_dir, acked, fresh = setup
    limit = (col_dir / "collection.sqlite").stat().st_size + 64 * 1024

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG, not a killing signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = _cli(*_index_argv(corpus, col_dir), check=False, preexec=cap)
    _assert_loud_error(out, "i/o error", "disk full", "space")
    _assert_intact(col_dir, corpus, acked, fresh)
    _cli(*_index_argv(corpus, col_dir))  # space is back: resume finishes
    verify_collection(col_dir, fresh, universe=set(corpus.files), must_have=corpus.files,
                      exact=True)


@pytest.fixture
def small_tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(mnt)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_mid_ingest(setup, small_tmpfs):
    corpus, col_dir, acked, fresh = setup
    full_dir = small_tmpfs / "col"
    shutil.copytree(col_dir, full_dir)
    out = _cli(*_index_argv(corpus, full_dir), check=False)
    _assert_loud_error(out, "disk full", "space", "i/o error")
    _assert_intact(full_dir, corpus, acked, fresh)
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    _cli(*_index_argv(corpus, full_dir))
    verify_collection(full_dir, fresh, universe=set(corpus.files), must_have=corpus.files,
                      exact=True)


def test_snapshot_save_failure_is_clear_and_loses_nothing(setup):
    """The faiss snapshot cannot be written (its temp path is taken by a directory)."""
    corpus, col_dir, _, _ = setup
    with Collection.open(col_dir) as col:
        seq = col.info()["seq"]
    for n in range(seq, seq + 700):  # whatever seq the add ends at
        (col_dir / f"index-{n:012d}.faiss.tmp").mkdir()
    with Collection.open(col_dir) as col, pytest.raises(CollectionError) as err:
        col.add(corpus.root, batch_size=50, workers=0)
    assert "snapshot" in str(err.value) and err.value.hint
    for n in range(seq, seq + 700):
        (col_dir / f"index-{n:012d}.faiss.tmp").rmdir()
    with Collection.open(col_dir, readonly=True) as col:
        assert col.count() == len(corpus.files)  # every batch was committed before the save
    assert check_collection(col_dir).ok


# --- read-only ---------------------------------------------------------------------------------
READ_COMMANDS = [("search", "hello", "-k", "3"), ("info",), ("errors",)]


def _check_read_only(col_dir: Path, corpus, acked, fresh, prefix=()) -> None:
    for args in READ_COMMANDS:
        out = _cli(args[0], *args[1:], "-c", col_dir, prefix=prefix)
        assert "error" not in json.loads(out.stdout)
    out = _cli("search", "--image", next(iter(acked)), "-c", col_dir, "-k", "1", prefix=prefix)
    assert json.loads(out.stdout)["results"][0]["path"] == next(iter(acked))
    report = json.loads(_cli("check", col_dir, prefix=prefix).stdout)
    assert report["ok"] and report["counts"]["items"] == len(acked)
    for args in (_index_argv(corpus, col_dir), ("remove", "1", "-c", col_dir),
                 ("check", col_dir, "--repair")):
        _assert_loud_error(_cli(*args, check=False, prefix=prefix), "read-only", "readonly")


def test_read_only_bind_mount(setup, tmp_path):
    corpus, col_dir, acked, fresh = setup
    ro = tmp_path / "ro"
    ro.mkdir()
    bind = ["mount", "--bind", str(col_dir), str(ro)]
    if subprocess.run(bind, capture_output=True, check=False).returncode:
        pytest.skip("cannot bind-mount here (needs root with CAP_SYS_ADMIN)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        _check_read_only(ro, corpus, acked, fresh)
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
    _assert_intact(col_dir, corpus, acked, fresh)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to drop capabilities")
def test_read_only_permissions(setup):
    corpus, col_dir, acked, fresh = setup
    for p in [col_dir, *col_dir.iterdir()]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        _check_read_only(col_dir, corpus, acked, fresh,
                         prefix=("setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"))
    finally:
        col_dir.chmod(0o755)
    _assert_intact(col_dir, corpus, acked, fresh)


def test_read_only_open_refuses_writes(setup):
    corpus, col_dir, acked, fresh = setup
    with Collection.open(col_dir, readonly=True) as col:
        with pytest.raises(CollectionError, match="read-only"):
            col.add(corpus.root, workers=0)
        with pytest.raises(CollectionError, match="read-only"):
            col.remove([1])
        assert len(col.search("hello", k=5)) == 5
    _assert_intact(col_dir, corpus, acked, fresh)
