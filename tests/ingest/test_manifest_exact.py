"""Issue 12 §2: manifests keep data exactly (no silent re-typing, JSON-safe parquet, duplicates
and misspelt columns are errors before any work)."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jointspace.errors import BadInputError
from jointspace.ingest.items import SourceItem
from jointspace.ingest.manifest import parse_types
from jointspace.ingest.sources import ManifestSource, read_manifest


def _csv(tmp_path, text: str, name: str = "m.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_codes_keep_their_zeros_and_only_whole_numeric_columns_become_numbers(tmp_path):
    path = _csv(tmp_path, "text,code,year,price,mixed,score\n"
                          "a,007,2015,1.50,7,nan\nb,12,2016,2.5,x,0.5\nc,,,3,,\n")
    assert read_manifest(path) == [
        {"text": "a", "code": "007", "year": 2015, "price": "1.50", "mixed": "7", "score": None},
        {"text": "b", "code": "12", "year": 2016, "price": "2.5", "mixed": "x", "score": 0.5},
        {"text": "c", "code": None, "year": None, "price": "3", "mixed": None, "score": None},
    ]


def test_declared_types_win_and_a_bad_cell_is_one_clear_error(tmp_path):
    path = _csv(tmp_path, "text,code,year,flag\na,007,2015,yes\nb,12,2016,0\n")
    rows = read_manifest(path, parse_types("code=int,year=str,flag=bool"))
    assert rows[0] == {"text": "a", "code": 7, "year": "2015", "flag": True}
    assert rows[1]["flag"] is False
    with pytest.raises(BadInputError, match="'text' is declared int"):
        read_manifest(path, parse_types("text=int"))
    with pytest.raises(BadInputError, match="--types"):
        parse_types("year=integer")
    with pytest.raises(BadInputError, match="no column 'yaer' \\(--types\\)"):
        list(ManifestSource(path, types="yaer=int").scan())
    jl = tmp_path / "m.jsonl"
    jl.write_text('{"text": "a", "year": "2015"}\n')
    assert read_manifest(jl, {"year": "int"}) == [{"text": "a", "year": 2015}]


def test_a_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes(b"\xef\xbb\xbfid,text\n1,hello\n")
    assert read_manifest(path) == [{"id": 1, "text": "hello"}]
    jl = tmp_path / "m.jsonl"
    jl.write_bytes(b'\xef\xbb\xbf{"text": "hi"}\n')
    assert read_manifest(jl) == [{"text": "hi"}]


def test_parquet_special_types_become_json_data(tmp_path):
    table = pa.table({
        "text": ["a"],
        "when": pa.array([dt.datetime(2020, 1, 2, 3, 4, 5)], pa.timestamp("us")),
        "when_tz": pa.array([dt.datetime(2020, 1, 2, tzinfo=dt.UTC)],
                            pa.timestamp("ms", tz="UTC")),
        "day": pa.array([dt.date(2021, 5, 6)], pa.date32()),
        "price": pa.array([decimal.Decimal("12.30")], pa.decimal128(5, 2)),
        "blob": pa.array([b"\x00\xff"], pa.binary()),
        "nested": pa.array([{"a": 1, "b": [1.5, float("nan")]}]),
        "tags": pa.array([["x", "y"]]),
        "attrs": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())),
        "half": pa.array([np.float16(1.5)], pa.float16()),
        "span": pa.array([dt.timedelta(seconds=90)], pa.duration("s")),
    })
    pq.write_table(table, tmp_path / "m.parquet")
    (row,) = read_manifest(tmp_path / "m.parquet")
    assert row == {"text": "a", "when": "2020-01-02T03:04:05", "when_tz": "2020-01-02T00:00:00+00:00",
                   "day": "2021-05-06", "price": "12.30", "blob": "AP8=",
                   "nested": {"a": 1, "b": [1.5, None]}, "tags": ["x", "y"], "attrs": {"k": 1},
                   "half": 1.5, "span": "0:01:30"}
    json.dumps(row, allow_nan=False)
    items = list(ManifestSource(tmp_path / "m.parquet").scan())
    assert len(items) == 1 and isinstance(items[0], SourceItem)


def test_parquet_types_index_without_a_per_row_failure(tmp_path):
    from jointspace.query import Collection

    table = pa.table({"text": ["a", "b"],
                      "day": pa.array([dt.date(2021, 5, 6), None], pa.date32()),
                      "price": pa.array([decimal.Decimal("1.5"), None], pa.decimal128(4, 1))})
    pq.write_table(table, tmp_path / "m.parquet")
    with Collection.create(tmp_path / "col", "hash:16") as col:
        report = col.add(tmp_path / "m.parquet")
        assert (report.added, report.failed) == (2, 0), report.to_dict()
        assert [h.text for h in col.search("a", where='day = "2021-05-06"')] == ["a"]


@pytest.mark.parametrize("option", ["text_column", "path_column", "id_column"])
def test_a_named_column_that_does_not_exist_is_one_error(tmp_path, option):
    path = _csv(tmp_path, "caption,file\nhi,a.jpg\n")
    with pytest.raises(BadInputError, match="no column 'captoin'") as exc:
        list(ManifestSource(path, **{option: "captoin"}).scan())
    assert "'caption', 'file'" in exc.value.message


def test_duplicate_headers_and_json_keys_are_errors(tmp_path):
    with pytest.raises(BadInputError, match=r"duplicate column names \['a'\]"):
        read_manifest(_csv(tmp_path, "a,text,a\n1,x,2\n"))
    jl = tmp_path / "m.jsonl"
    jl.write_text('{"text": "x", "text": "y"}\n')
    with pytest.raises(BadInputError, match="m.jsonl:1: duplicate keys"):
        read_manifest(jl)


def test_duplicate_ids_are_an_error_listing_them_or_the_last_row_wins(tmp_path):
    path = _csv(tmp_path, "id,text\n1,first\n2,other\n1,second\n")
    with pytest.raises(BadInputError, match=r"'.*#1' \(2 rows\)") as exc:
        list(ManifestSource(path).scan())
    assert "--on-duplicate last" in exc.value.hint
    items = list(ManifestSource(path, on_duplicate="last").scan())
    assert [i.text for i in items] == ["other", "second"]
    (tmp_path / "a.jpg").write_bytes(b"x")
    images = _csv(tmp_path, "path,caption\na.jpg,one\n./a.jpg,two\n", "i.csv")
    with pytest.raises(BadInputError, match="a.jpg"):
        list(ManifestSource(images).scan())


def test_no_silent_overwrite_when_indexing(tmp_path):
    from jointspace.query import Collection

    path = _csv(tmp_path, "id,text\n1,first\n1,second\n")
    with Collection.create(tmp_path / "col", "hash:16") as col:
        with pytest.raises(BadInputError):
            col.add(path)
        assert col.count() == 0
