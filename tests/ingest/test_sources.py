import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jointspace.errors import BadInputError
from jointspace.ingest.items import FileError, SourceItem
from jointspace.ingest.sources import (
    FolderSource,
    ManifestSource,
    TextsSource,
    open_source,
    read_manifest,
    row_captions,
)


def _scan(src):
    out = list(src.scan())
    return ([s for s in out if isinstance(s, SourceItem)], [s for s in out if isinstance(s, FileError)])


def test_folder_walk_allow_list_and_symlinks(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.jpg").write_bytes(b"x")
    (root / "sub" / "b.PNG").write_bytes(b"x")
    (root / "notes.txt").write_text("hello")
    (root / "data.bin").write_bytes(b"x")
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "escape.jpg")
    os.symlink(root / "a.jpg", root / "inside_link.jpg")
    os.symlink(root / "loop.jpg", root / "loop.jpg")
    os.symlink(tmp_path, root / "dirlink")  # directory links are not followed at all
    items, errors = _scan(FolderSource(root))
    assert sorted(os.path.basename(i.path) for i in items) == ["a.jpg", "b.PNG", "inside_link.jpg"]
    assert sorted(os.path.basename(e.path) for e in errors) == ["escape.jpg", "loop.jpg"]
    assert all(i.kind == "image" for i in items)
    texts, _ = _scan(FolderSource(root, kinds=frozenset({"text"})))
    assert [(os.path.basename(t.path), t.kind) for t in texts] == [("notes.txt", "text")]


def test_manifest_formats_agree(tmp_path):
    rows = [{"id": "a", "text": "first", "year": 2001}, {"id": "b", "text": "second", "year": 2002}]
    (tmp_path / "m.csv").write_text("id,text,year\na,first,2001\nb,second,2002\n")
    (tmp_path / "m.jsonl").write_text('{"id":"a","text":"first","year":2001}\n\n'
                                      '{"id":"b","text":"second","year":2002}\n')
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    for name in ("m.csv", "m.jsonl", "m.parquet"):
        assert read_manifest(tmp_path / name) == rows
        items, errors = _scan(open_source(tmp_path / name))
        assert not errors
        assert [(i.kind, i.text, i.metadata) for i in items] == [
            ("text", "first", {"id": "a", "year": 2001}), ("text", "second", {"id": "b", "year": 2002})]
        assert items[0].key.endswith(f"{name}#a")


def test_manifest_image_paths_may_not_escape(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ok.jpg").write_bytes(b"x")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    m = tmp_path / "d" / "m.jsonl"
    m.write_text('{"path": "ok.jpg", "caption": "c"}\n{"path": "../secret.jpg"}\n{"path": 5}\n')
    items, errors = _scan(ManifestSource(m))
    assert [(os.path.basename(i.path), i.text) for i in items] == [("ok.jpg", "c")]
    assert len(errors) == 2 and "outside" in errors[0].reason


@pytest.mark.parametrize("content", ['{"a": 1}\n[1, 2]\n', "{broken\n"])
def test_bad_jsonl_is_a_clear_error(tmp_path, content):
    (tmp_path / "m.jsonl").write_text(content)
    with pytest.raises(BadInputError, match="m.jsonl:"):
        read_manifest(tmp_path / "m.jsonl")


def test_missing_source(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        open_source(tmp_path / "nope")


@pytest.mark.parametrize("ids, metadata, match", [
    (["x"], None, "2 texts but 1 ids"), (["x", "y", "z"], None, "2 texts but 3 ids"),
    (None, [{}], "2 texts but 1 metadata"), (["x", "x"], None, "unique"),
])
def test_texts_source_refuses_mismatched_lists(ids, metadata, match):
    with pytest.raises(BadInputError, match=match):
        TextsSource(["a", "b"], ids=ids, metadata=metadata)
    items = list(TextsSource(["a", "b"], ids=["x", "y"], metadata=[{"n": 1}, {"n": 2}]).scan())
    assert [(i.key, i.metadata) for i in items] == [("texts#x", {"n": 1}), ("texts#y", {"n": 2})]


def test_row_captions_reads_every_shape():
    assert row_captions({"captions": ["a", 2]}) == ["a", "2"]
    assert row_captions({"caption": "one"}) == ["one"]
    assert row_captions({"captions": "solo", "caption": "ignored"}) == ["solo"]
    assert row_captions({"file": "x.png"}) == [] == row_captions({"captions": None})
