import sqlite3

import pytest

from jointspace.errors import FilterSyntaxError
from jointspace.store.filters import Clause, parse_filter


def test_parses_comparisons_lists_and_quotes():
    f = parse_filter("year>=2015 and label in (cat, 'hot dog', 3) and name != \"a b\"")
    assert f.clauses == (
        Clause("year", ">=", 2015),
        Clause("label", "in", ("cat", "hot dog", 3)),
        Clause("name", "!=", "a b"),
    )


def test_several_strings_and_dicts_are_anded():
    assert parse_filter(["a=1", "b<2.5"]).clauses == (Clause("a", "=", 1), Clause("b", "<", 2.5))
    f = parse_filter({"year": {">=": 2015}, "label": ["cat", "dog"], "ok": True})
    assert f.clauses == (Clause("year", ">=", 2015), Clause("label", "in", ("cat", "dog")),
                         Clause("ok", "=", True))


@pytest.mark.parametrize("bad", ["year>>2", "year", "= 3", "a in cat", "a in ()", "1a=2",
                                 "a.=3", "x = nan", "a; DROP TABLE items = 1", "a=\x00"])
def test_rejects_malformed(bad):
    with pytest.raises(FilterSyntaxError):
        parse_filter(bad)


def _rows(where: str) -> list[int]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (id INTEGER, kind TEXT, source TEXT, path TEXT, key TEXT, "
                 "metadata TEXT, annotations TEXT DEFAULT '{}')")
    rows = [(1, '{"year": 2010, "label": "cat", "geo": {"country": "fr"}}'),
            (2, '{"year": 2015, "label": "dog"}'),
            (3, '{"year": 2020, "label": "cat", "geo": {"country": "de"}}'),
            (4, '{"label": null}')]
    conn.executemany("INSERT INTO items VALUES (?, 'image', 's', 'p', 'k', ?, '{}')", rows)
    conn.execute("""UPDATE items SET annotations = '{"tag": "zebra", "year": 1999}' WHERE id = 3""")
    sql, params = parse_filter(where).to_sql()
    return [r[0] for r in conn.execute(f"SELECT id FROM items WHERE {sql} ORDER BY id", params)]


def test_sql_semantics():
    assert _rows("year>=2015") == [2]  # item 3's annotation (1999) overrides its metadata
    assert _rows("tag = zebra") == [3]
    assert _rows("label in (cat)") == [1, 3]
    assert _rows("label not in (cat)") == [2]
    assert _rows("geo.country = fr") == [1]
    assert _rows("label = null") == [4]
    assert _rows("kind = image and year < 2020") == [1, 2, 3]
    assert _rows("label = \"cat' OR 1=1 --\"") == []
