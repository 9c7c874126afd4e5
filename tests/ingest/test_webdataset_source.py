"""Webdataset .tar shards as an index source (issue 12 §2)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile

import numpy as np
from PIL import Image

from jointspace.ingest.items import FileError, SourceItem
from jointspace.ingest.sources import WebDatasetSource, open_source
from jointspace.query import Collection


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _shard(path, samples: dict[str, dict[str, bytes]]):
    with tarfile.open(path, "w") as tar:
        for key, members in samples.items():
            for ext, data in members.items():
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_shards_index_images_with_captions_and_metadata(tmp_path):
    for n in range(2):
        _shard(tmp_path / f"part-{n:03d}.tar", {
            f"s{n}a": {"png": _png(n * 10), "txt": b"a red square",
                       "json": json.dumps({"label": "red", "n": n}).encode()},
            f"s{n}b": {"jpg": _png(n * 10 + 1), "json": b'{"captions": ["one", "two"]}'},
            f"s{n}c": {"txt": b"a caption without its image"},
        })
    src = open_source(str(tmp_path / "part-{000..001}.tar"))
    assert isinstance(src, WebDatasetSource)
    out = list(src.scan())
    items = [s for s in out if isinstance(s, SourceItem)]
    errors = [s for s in out if isinstance(s, FileError)]
    assert len(items) == 4 and len(errors) == 2 and "no image member" in errors[0].reason
    assert items[0].text == "a red square" and items[0].metadata == {"label": "red", "n": 0}
    assert items[1].text == "one\ntwo" and items[1].metadata == {}
    with Collection.create(tmp_path / "col", "hash:16") as col:
        r = col.add(str(tmp_path / "part-*.tar"), workers=0)
        assert (r.added, r.failed) == (4, 2), r.to_dict()
        hit = col.search(image=_png(10), k=1)[0]  # the bytes of part-001's s1a
        assert hit.score > 0.999 and hit.path.endswith("part-001.tar#s1a.png")
        assert hit.metadata == {"label": "red", "n": 1} and hit.text == "a red square"
        assert col.search("x", where="label = red and n = 0", k=5)[0].path.endswith("#s0a.png")
        again = col.add(str(tmp_path / "part-*.tar"), workers=None)
        assert (again.added, again.unchanged) == (0, 4)


def test_a_shard_without_samples_exits_non_zero_with_a_warning(tmp_path):
    _shard(tmp_path / "empty.tar", {"x": {"txt": b"no image here"}})
    p = subprocess.run([sys.executable, "-m", "jointspace", "index", str(tmp_path / "empty.tar"),
                        "-c", str(tmp_path / "col"), "-m", "hash:8", "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "yielded no items" in p.stderr, p.stderr
    assert json.loads(p.stdout)["failed"] == 1


def test_a_compressed_shard_is_a_clear_error(tmp_path):
    with tarfile.open(tmp_path / "c.tar", "w:gz") as tar:
        info = tarfile.TarInfo("a.png")
        data = _png(0)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (err,) = list(WebDatasetSource(str(tmp_path / "c.tar")).scan())
    assert isinstance(err, FileError) and "uncompressed" in err.reason
