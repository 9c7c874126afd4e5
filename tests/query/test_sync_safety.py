"""Issue 12 §2: a sync never silently loses data — emptied sources, removed items, metadata edits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from jointspace.query import Collection


def _images(folder, n, start=0):
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(start)
    for i in range(start, start + n):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_an_emptied_manifest_does_not_empty_the_collection(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": i, "text": f"note {i}"}) + "\n"
                                for i in range(6)))
    with Collection.create(tmp_path / "col", "hash:16") as col:
        assert col.add(manifest).added == 6
        manifest.write_text("")
        r = col.add(manifest)
        assert (r.removed, r.prune_refused, col.count()) == (0, 6, 6)
        assert "--prune-all" in r.warnings[0]
        manifest.write_text("".join(json.dumps({"id": i, "text": f"note {i}"}) + "\n"
                                    for i in range(4)))
        r = col.add(manifest)  # a third of them gone: an ordinary sync
        assert (r.removed, r.prune_refused, col.count()) == (2, 0, 4)
        manifest.write_text('{"id": 0, "text": "note 0"}\n')
        r = col.add(manifest, prune_all=True)
        assert (r.removed, col.count()) == (3, 1)


def test_an_unmounted_folder_keeps_its_items_and_the_cli_exits_1(tmp_path):
    photos = tmp_path / "photos"
    _images(photos, 4)
    col = tmp_path / "col"
    js = [sys.executable, "-m", "jointspace"]
    run = subprocess.run(js + ["index", str(photos), "-c", str(col), "-m", "hash:16", "--json",
                               "--workers", "0"], capture_output=True, text=True, timeout=120)
    assert json.loads(run.stdout)["added"] == 4
    for f in photos.iterdir():
        f.unlink()
    run = subprocess.run(js + ["index", str(photos), "-c", str(col), "--json"],
                         capture_output=True, text=True, timeout=120)
    report = json.loads(run.stdout)
    assert run.returncode == 1 and report["prune_refused"] == 4 and report["removed"] == 0
    assert any("yielded no items" in w for w in report["warnings"])
    assert report["error"]["type"] in ("PruneRefused", "EmptySource") and report["error"]["hint"]
    with Collection.open(col) as c:
        assert c.count() == 4


def test_removed_items_stay_removed_until_their_file_changes(tmp_path):
    photos = tmp_path / "photos"
    _images(photos, 5)
    with Collection.create(tmp_path / "col", "hash:16") as col:
        col.add(photos, workers=0)
        victim = next(h for h in col.search(image=photos / "2.png", k=1))
        assert col.remove([victim.id]) == 1
        r = col.add(photos, workers=0)
        assert (r.added, r.excluded, col.count()) == (0, 1, 4)
        assert not col.search(image=photos / "2.png", k=1, where={"path": victim.path})
        # the file changes: it is indexed again, and its exclusion is gone for good
        Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(photos / "2.png")
        os.utime(photos / "2.png", ns=(1, 1))
        r = col.add(photos, workers=0)
        assert (r.added, r.excluded, col.count()) == (1, 0, 5)
        assert col.add(photos, workers=0).excluded == 0


def test_removed_manifest_text_rows_stay_removed(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,text\na,first\nb,second\nc,third\n")
    with Collection.create(tmp_path / "col", "hash:16") as col:
        col.add(manifest)
        second = next(h.id for h in col.search("x", k=3) if h.text == "second")
        assert col.remove([second]) == 1
        assert (col.add(manifest).excluded, col.count()) == (1, 2)
        manifest.write_text("id,text\na,first\nb,second edited\nc,third\n")
        r = col.add(manifest)
        assert (r.added, r.excluded, col.count()) == (1, 0, 3)


def test_a_metadata_edit_is_reported_as_updated(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,text,year\na,first,2001\nb,second,2002\n")
    with Collection.create(tmp_path / "col", "hash:16") as col:
        col.add(manifest)
        manifest.write_text("id,text,year\na,first,2001\nb,second,1999\n")
        r = col.add(manifest)
        assert (r.added, r.updated, r.unchanged) == (0, 1, 1)
        assert [h.text for h in col.search("x", where="year = 1999")] == ["second"]
        assert (col.add(manifest).updated, col.add(manifest).unchanged) == (0, 2)


def test_file_names_that_are_not_utf8_are_indexed_losslessly(tmp_path):
    import base64

    photos = tmp_path / "photos"
    _images(photos, 2)
    raw = os.fsencode(str(photos)) + b"/caf\xe9-\xff.png"
    os.rename(photos / "1.png", raw)
    with Collection.create(tmp_path / "col", "hash:16") as col:
        r = col.add(photos, workers=0)
        assert (r.added, r.failed) == (2, 0), r.to_dict()
        hit = next(h for h in col.search(image=os.fsdecode(raw), k=2) if "caf" in h.path)
        assert hit.score > 0.999 and hit.path.endswith("caf\\xe9-\\xff.png")
        assert base64.b64decode(hit.metadata["path_bytes"]) == raw
        r = col.add(photos, workers=0)
        assert (r.added, r.unchanged, r.removed) == (0, 2, 0)
        os.unlink(raw)
        _images(photos, 2, start=5)  # keep the source mostly present: an ordinary prune
        r = col.add(photos, workers=0)
        assert (r.added, r.removed, col.count()) == (2, 1, 3)
