import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jointspace.errors import FilterSyntaxError
from jointspace.store.filters import COLUMNS, Clause, Contains, parse_filter


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


# --- issue 12: whitespace, positions, quoted names, contains, nan ----------------------------
def test_tabs_and_newlines_are_whitespace():
    want = (Clause("year", ">=", 2015), Clause("label", "in", ("cat", "dog")))
    assert parse_filter("year>=2015\tand\nlabel in (cat,\tdog)").clauses == want
    assert parse_filter("year >= 2015 AND label in(cat , dog)").clauses == want


@pytest.mark.parametrize("bad,column,words", [
    ("year>1 or year<0", 8, "'or' is not supported"),
    ("year>1 and", 11, "dangling 'and'"),
    ("year ~ 3", 6, "unknown operator"),
    ("year => 3", 6, "unknown operator"),
    ("label like cat", 7, "unknown operator"),
    ("my field = 3", 4, "quote a field name"),
    ("x = nan", 5, "quote it"),
    ("x > -inf", 5, "quote it"),
    ("label = 'cat", 9, "unclosed quote"),
    ("label in (cat", 14, "found the end"),
    ("not label = cat", 1, "cannot start with 'not'"),
    ("(year > 1)", 1, "expected a field name"),
])
def test_parse_errors_say_where_and_what_to_do(bad, column, words):
    with pytest.raises(FilterSyntaxError) as exc:
        parse_filter(bad)
    assert f"column {column}" in exc.value.message, exc.value.message
    assert words in exc.value.message + (exc.value.hint or ""), exc.value


def test_quoted_and_non_ascii_field_names():
    assert parse_filter('"camera model" = "X100"').clauses == (Clause("camera model", "=", "X100"),)
    assert parse_filter("année >= 2015").clauses == (Clause("année", ">=", 2015),)
    assert parse_filter("'prix €' < 3").clauses == (Clause("prix €", "<", 3),)
    assert _rows2('"camera model" = "X100"') == [1]
    assert _rows2("année >= 2015") == [2]


def test_nan_as_text_when_quoted():
    assert parse_filter('x = "nan"').clauses == (Clause("x", "=", "nan"),)


def test_contains_is_its_own_node_and_matches_lists():
    f = parse_filter("labels contains cat and year > 1")
    assert f.clauses == (Contains("labels", "cat"), Clause("year", ">", 1))
    assert f.clauses[0].op == "contains"
    assert parse_filter({"labels": {"contains": "cat"}}).clauses == (Contains("labels", "cat"),)
    assert _rows2("labels contains cat") == [1, 3]  # 3: a scalar equal to it
    assert _rows2("labels contains 2") == [2]  # numbers stay numbers: "2" would not match
    assert _rows2('labels contains "2"') == []
    assert _rows2("tags contains x") == [2]  # annotations override metadata
    with pytest.raises(FilterSyntaxError):
        parse_filter("labels contains null")
    with pytest.raises(FilterSyntaxError, match="at column 14"):
        parse_filter("year > 1 and path contains x")


def _rows2(where: str) -> list[int]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (id INTEGER, kind TEXT, source TEXT, path TEXT, key TEXT, "
                 "metadata TEXT, annotations TEXT DEFAULT '{}')")
    rows = [(1, '{"labels": ["cat", "dog"], "camera model": "X100", "tags": ["y"]}', "{}"),
            (2, '{"labels": [1, 2, {"cat": 1}], "année": 2016, "tags": ["y"]}',
             '{"tags": ["x"]}'),
            (3, '{"labels": "cat"}', "{}")]
    conn.executemany("INSERT INTO items VALUES (?, 'image', 's', 'p', 'k', ?, ?)", rows)
    sql, params = parse_filter(where).to_sql()
    return [r[0] for r in conn.execute(f"SELECT id FROM items WHERE {sql} ORDER BY id", params)]


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\.'),
               min_size=1, max_size=12).filter(lambda s: s.strip() == s and s not in COLUMNS),
       st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=10))
def test_any_quoted_name_and_value_round_trip(name, value):
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    f = parse_filter(f'"{name}" contains "{quoted}" and\t"{name}" != "{quoted}"')
    assert f.clauses == (Contains(name, value), Clause(name, "!=", value))
