"""Hostile texts, as items and as queries: empty, whitespace, very long (truncated, and the report
says so), control characters, mixed scripts, emoji, lone surrogates."""

from __future__ import annotations

import pytest
from relsupport import read_rows

from jointspace.errors import BadInputError
from jointspace.query import Collection

TEXTS = {
    "empty": "",
    "whitespace": " \t\n\r\u00a0\u3000 ",
    "very-long": " ".join(f"w{i}" for i in range(60_000)),  # ~400 kB
    "one-huge-token": "x" * 200_000,
    "control": "a\x00b\x01c\x07 \x1b[31mred\x1b[0m \x7f\x9f end",
    "mixed-scripts": "Ελληνικά русский 中文字符 العربية हिन्दी עברית ไทย 한국어",
    "emoji": "👩‍👩‍👧‍👦 🏳️‍🌈 🐶🐱 ❤️‍🔥 family",
    "bidi-and-zero-width": "abc\u202edef\u200b\u200c\u200d\ufeffghi",
    "combining": "e\u0301" * 2000,
    "crlf": "line one\r\nline two\rline three\n",
    "sql-ish": "'); DROP TABLE items; --",
}
BAD = {"lone-surrogate": "ok \ud800 not ok", "lone-low-surrogate": "\udcff"}


def test_hostile_texts_are_stored_verbatim_or_rejected_per_item(tmp_path):
    ids = sorted(TEXTS) + sorted(BAD)
    values = [TEXTS.get(i, BAD.get(i)) for i in ids]
    with Collection.create(tmp_path / "col", "hash:64") as col:
        report = col.add_texts(values, ids=ids)
        assert report.added == len(TEXTS) and report.failed == len(BAD), report.to_dict()
        assert all("UTF-8" in e.reason for e in report.errors)
        rows = {r.key.split("#", 1)[1]: r for r in read_rows(col.path)}
        assert set(rows) == set(TEXTS)
        for name, text in TEXTS.items():
            assert rows[name].text == text, f"{name} not stored verbatim"
            top = col.search_vector(rows[name].vector, k=1)[0]
            assert top.score == pytest.approx(1.0, abs=1e-5)
        for name in ("control", "mixed-scripts", "emoji", "sql-ish", "crlf"):
            assert col.search(TEXTS[name], k=1)[0].text == TEXTS[name]
        assert col.count() == len(TEXTS)  # the SQL-ish text did nothing


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "x" * 10_001])
def test_hostile_queries_are_bad_input(tmp_path, query):
    with Collection.create(tmp_path / "col", "hash:64") as col:
        col.add_texts(["something"])
        with pytest.raises(BadInputError):
            col.search(query)


@pytest.mark.parametrize("query", [TEXTS["control"], TEXTS["emoji"], TEXTS["mixed-scripts"],
                                   "'; DROP TABLE items; --", "%_*?[]\\", "\x00"])
def test_odd_but_valid_queries_work(tmp_path, query):
    with Collection.create(tmp_path / "col", "hash:64") as col:
        col.add_texts(["something", "else"])
        assert len(col.search(query, k=2)) == 2


def test_over_long_texts_are_truncated_and_the_report_says_so(tmp_path, tiny_clip_dir):
    """A real tokenizer (77 tokens): a long text is cut, not refused, and counted as truncated."""
    long = " ".join(["a photo of a dog"] * 100)
    with Collection.create(tmp_path / "col", f"hf:{tiny_clip_dir}") as col:
        report = col.add_texts(["a photo of a cat", long, long + " and a red car"],
                               ids=["short", "long", "longer"])
        assert report.added == 3 and report.truncated == 2, report.to_dict()
        vec = {r.key: r.vector for r in read_rows(col.path)}
        # beyond the limit nothing counts: the longer text embeds exactly like the long one
        assert (vec["texts#long"] == vec["texts#longer"]).all()
        assert not (vec["texts#long"] == vec["texts#short"]).all()
        assert col.search(long, k=1)[0].text in (long, long + " and a red car")


def test_lone_surrogate_query_with_a_real_tokenizer(tmp_path, tiny_clip_dir):
    """HF tokenizers raise a bare TypeError on lone surrogates (e.g. a JSON "\\ud800" escape)."""
    with Collection.create(tmp_path / "col", f"hf:{tiny_clip_dir}") as col:
        col.add_texts(["a photo of a cat"])
        with pytest.raises(BadInputError, match="Unicode"):
            col.search("a photo \ud800 of a cat")
