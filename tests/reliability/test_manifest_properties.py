"""Property tests of manifest reading (CSV / JSONL / parquet): values round-trip, CSV columns are
numbers only when all their cells are, non-finite numbers become null (JSON cannot hold them,
and one NaN in SQLite's metadata broke every filtered search), and arbitrary bytes give rows or
a BadInputError, nothing else."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jointspace.errors import BadInputError, JointspaceError
from jointspace.ingest.sources import ManifestSource, read_manifest
from jointspace.query import Collection

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=15)
keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               min_size=1, max_size=8)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | finite
                           | text, lambda kids: st.lists(kids, max_size=3)
                           | st.dictionaries(keys, kids, max_size=3), max_leaves=8)


def _clean(value):
    """The reference: non-finite floats are null, everything else unchanged."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


@SETTINGS
@given(st.lists(st.dictionaries(keys, json_values | st.floats(), max_size=5), max_size=5))
def test_jsonl_round_trip(tmp_path, rows):
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert read_manifest(path) == [_clean(r) for r in rows]


def _not_numeric(s: str) -> bool:
    for cast in (int, float):
        try:
            cast(s)
            return False
        except ValueError:
            pass
    return s != ""


cells = (st.integers(-(10**30), 10**30) | st.floats() | text.filter(_not_numeric) | st.none())


@SETTINGS
@given(st.lists(st.fixed_dictionaries({"path": text.filter(_not_numeric), "year": cells,
                                       "note": cells}), max_size=6))
def test_csv_cells_become_the_values_written(tmp_path, rows):
    path = tmp_path / "m.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["path", "year", "note"])
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if v is None else (repr(v) if isinstance(v, float) else v)
                        for k, v in r.items()})
    got = read_manifest(path)
    assert got == _csv_reference(rows)


def _csv_reference(rows: list[dict]) -> list[dict]:
    """A column of numbers (and blanks) reads as numbers, non-finite ones null; any text in a
    column keeps the whole column as the text written (issue 12: "007" is not re-typed)."""
    out = [dict(r) for r in rows]
    for name in ("path", "year", "note"):
        values = [r[name] for r in rows]
        numeric = all(v is None or isinstance(v, (int, float)) for v in values)
        for r, v in zip(out, values):
            if numeric or v is None:
                r[name] = _clean(v)
            else:
                r[name] = repr(v) if isinstance(v, float) else str(v)
    return out


@SETTINGS
@given(st.lists(st.fixed_dictionaries({"path": text, "year": st.none() | st.integers(0, 3000),
                                       "score": st.none() | st.floats()}), min_size=1,
                max_size=6))
def test_parquet_round_trip(tmp_path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("path", pa.string()), ("year", pa.int64()), ("score", pa.float64())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "m.parquet")
    assert read_manifest(tmp_path / "m.parquet") == [_clean(r) for r in rows]


@SETTINGS
@given(st.binary(max_size=300), st.sampled_from([".csv", ".jsonl", ".parquet"]))
@example(b"[" * 100_000, ".jsonl")  # nesting deeper than Python's recursion limit
@example(b"a,b\n1,2,3\n", ".csv")  # a row with more cells than the header
@example(b"path\n\x00\n", ".csv")
@example(b"PAR1" + b"\0" * 40 + b"PAR1", ".parquet")
@example(b'{"a": 1e999}\n', ".jsonl")
def test_arbitrary_bytes_are_rows_or_a_bad_input_error(tmp_path, data, suffix):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(data)
    try:
        rows = read_manifest(path)
    except BadInputError:
        return
    assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    json.dumps(rows, allow_nan=False)  # storable as JSON metadata
    try:
        for item in ManifestSource(path).scan():
            assert item is not None
    except BadInputError:
        pass


def test_non_finite_metadata_does_not_break_filtered_search(tmp_path):
    """One NaN cell used to be stored as invalid JSON, failing every filter on the collection."""
    manifest = tmp_path / "m.csv"
    manifest.write_text("text,score,label\nhello,nan,a\nworld,2.5,b\nagain,inf,c\n")
    with Collection.create(tmp_path / "col", "hash:64") as col:
        report = col.add(manifest)
        assert report.added == 3 and report.failed == 0
        assert [h.metadata["label"] for h in col.search("world", where="score > 1")] == ["b"]
        assert {h.metadata["label"] for h in col.search("x", where="score = null")} == {"a", "c"}


@pytest.mark.parametrize("meta", [{"x": float("nan")}, {"x": [1, float("inf")]}, {1: "a", "b": 2},
                                  {"x": object()}])
def test_unstorable_metadata_is_a_per_item_error(tmp_path, meta):
    with Collection.create(tmp_path / "col", "hash:64") as col:
        try:
            report = col.add_texts(["fine", "odd"], metadata=[{"ok": 1}, meta])
        except JointspaceError:
            return  # refusing the call up front is fine too
        assert report.added == 1 and report.failed == 1, report.to_dict()
        assert col.search("fine", where="ok = 1")[0].text == "fine"


def test_manifest_source_paths_stay_inside(tmp_path: Path):
    manifest = tmp_path / "sub" / "m.jsonl"
    manifest.parent.mkdir()
    manifest.write_text('{"path": "../escape.png"}\n{"path": "ok.png"}\n')
    (tmp_path / "escape.png").write_bytes(b"x")
    out = list(ManifestSource(manifest).scan())
    assert "outside" in out[0].reason and out[1].path.endswith("ok.png")
