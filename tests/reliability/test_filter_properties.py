"""Property tests of the filter language: string/dict round trips, no SQL injection whatever the
input, and results equal to a plain-Python evaluation of the intended semantics:

- a missing field and JSON null are the same (``= null`` matches them; nothing else does);
- numbers compare with numbers, strings with strings (by code point); a number never equals or
  orders against a string; booleans are the integers 0 / 1 (as SQLite's JSON stores them);
- ``!=`` / ``not in`` need the field present; ``null`` inside an ``in`` list means "missing".
"""

from __future__ import annotations

import math
import operator
import re
import sqlite3

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jointspace.errors import FilterSyntaxError
from jointspace.store.filters import MAX_VALUES, OPS, Clause, Filter, parse_filter

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYWORDS = {"and", "or", "in", "not", "true", "false", "null", "none"}  # reserved by the parser

field_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}(\.[A-Za-z_][A-Za-z0-9_]{0,4}){0,2}",
                            fullmatch=True).filter(lambda f: f.split(".")[0].lower() not in KEYWORDS)
strings = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                  max_size=12)
numbers = st.integers(-(2**63) + 1, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
scalars = strings | numbers | st.booleans()


@st.composite
def clauses(draw, fields=field_names, values=scalars) -> Clause:
    field, op = draw(fields), draw(st.sampled_from(OPS))
    if op in ("in", "not in"):
        return Clause(field, op, tuple(draw(st.lists(values | st.none(), min_size=1,
                                                     max_size=4))))
    if op in ("=", "!=") and draw(st.booleans()) and draw(st.booleans()):
        return Clause(field, op, None)
    return Clause(field, op, draw(values))


def render_value(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(f: Filter) -> str:
    out = []
    for c in f.clauses:
        if c.op in ("in", "not in"):
            out.append(f"{c.field} {c.op} ({', '.join(render_value(v) for v in c.value)})")
        else:
            out.append(f"{c.field} {c.op} {render_value(c.value)}")
    return " and ".join(out)


@SETTINGS
@given(st.lists(clauses(), min_size=1, max_size=4))
def test_string_round_trip(cs):
    f = Filter(tuple(cs))
    assert parse_filter(render(f)) == f


@SETTINGS
@given(st.dictionaries(field_names, st.tuples(st.sampled_from(OPS), scalars), min_size=1,
                       max_size=4))
def test_dict_form_equals_string_form(spec):
    as_dict = {}
    for field, (op, value) in spec.items():
        as_dict[field] = {op: [value] if op in ("in", "not in") else value}
    f = parse_filter(as_dict)
    assert parse_filter(render(f)) == f


# --- injection ------------------------------------------------------------------------------
_SQL_WORDS = r"COALESCE|json_extract|annotations|metadata|typeof|IN|NOT|IS|NULL|AND|OR|" \
             r"id|kind|source|path|key|'integer'|'real'|'text'"
HOSTILE = st.lists(st.sampled_from(list("abcxyz_.019 \t\n'\"\\(),;=!<>-*/%") +
                                   [" and ", " or ", " in ", "not ", "null", "--", "/*", "'); DROP",
                                    "UNION SELECT", "\u00e9", "\U0001f600", "\x00"]),
                   max_size=30).map("".join)


@pytest.fixture(scope="module")
def db():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT, source TEXT, kind TEXT, "
                 "path TEXT, metadata TEXT NOT NULL DEFAULT '{}', "
                 "annotations TEXT NOT NULL DEFAULT '{}')")
    conn.execute("CREATE TABLE canary (x)")
    conn.execute("INSERT INTO canary VALUES (1)")
    return conn


def _check_clean(f: Filter, conn: sqlite3.Connection) -> None:
    sql, params = f.to_sql()
    residue = re.sub(_SQL_WORDS, " ", sql)
    assert re.fullmatch(r"[\s?(),=!<>1]*", residue), f"unexpected SQL text: {sql!r}"
    assert sql.count("?") == len(params)
    try:
        conn.execute(f"SELECT id FROM items WHERE {sql}", params).fetchall()
    except sqlite3.OperationalError as exc:  # e.g. too many terms: never a syntax injection
        assert "syntax" not in str(exc), exc
    assert conn.execute("SELECT count(*) FROM canary").fetchone() == (1,)


@SETTINGS
@given(st.one_of(HOSTILE, st.lists(HOSTILE, max_size=3),
                 st.dictionaries(HOSTILE, HOSTILE | numbers, max_size=3)))
def test_any_input_is_a_clean_filter_or_a_syntax_error(db, where):
    try:
        f = parse_filter(where)
    except FilterSyntaxError:
        return
    if f is not None:
        _check_clean(f, db)


def test_huge_in_list_is_bounded():
    with pytest.raises(FilterSyntaxError):
        parse_filter({"x": list(range(MAX_VALUES + 1))})


# --- results vs a Python reference -----------------------------------------------------------
MISSING = object()
POOL = [0, 1, 2, 2015, 2016, -3, 1.5, 2015.0, 2.5e10, "2015", "cat", "dog", "Cat", "", "é",
        "z", True, False]
FIELDS = ["year", "label", "flag", "nested.a"]


@pytest.fixture(scope="module")
def populated():
    import json

    rng = np.random.default_rng(0)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, key TEXT, source TEXT, kind TEXT, "
                 "path TEXT, metadata TEXT NOT NULL, annotations TEXT NOT NULL DEFAULT '{}')")
    metas = []
    for i in range(300):
        meta = {}
        for field in FIELDS:
            r = rng.random()
            if r < 0.15:
                continue  # missing
            value = None if r < 0.25 else POOL[int(rng.integers(len(POOL)))]
            if field == "nested.a":
                meta["nested"] = {"a": value}
            else:
                meta[field] = value
        metas.append(meta)
        conn.execute("INSERT INTO items (id, key, source, kind, metadata) VALUES (?,?,?,?,?)",
                     (i + 1, f"k{i}", "s", "image" if i % 2 else "text", json.dumps(meta)))
    return conn, metas


def _get(meta: dict, field: str):
    node = meta
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return int(node) if isinstance(node, bool) else node


def _norm(v):
    return int(v) if isinstance(v, bool) else v


def _same_type(a, b) -> bool:
    return isinstance(a, str) == isinstance(b, str)


_CMP = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def reference(meta: dict, c: Clause) -> bool:
    a = _get(meta, c.field)
    if c.op in ("in", "not in"):
        values = [_norm(v) for v in c.value]
        hit = any(v is not None and a is not None and _same_type(a, v) and a == v
                  for v in values) or (a is None and None in values)
        return hit if c.op == "in" else (a is not None and not any(
            v is not None and _same_type(a, v) and a == v for v in values))
    b = _norm(c.value)
    if b is None:
        return (a is None) == (c.op == "=")
    if a is None:
        return False
    equal = _same_type(a, b) and a == b
    if c.op == "=":
        return equal
    if c.op == "!=":
        return not equal
    return _same_type(a, b) and _CMP[c.op](a, b)


values_pool = st.sampled_from(POOL) | scalars


@SETTINGS
@given(st.lists(clauses(st.sampled_from(FIELDS), values_pool), min_size=1, max_size=3))
def test_results_equal_the_python_reference(populated, cs):
    conn, metas = populated
    f = Filter(tuple(cs))
    sql, params = f.to_sql()
    got = {r[0] for r in conn.execute(f"SELECT id FROM items WHERE {sql}", params)}
    want = {i + 1 for i, m in enumerate(metas) if all(reference(m, c) for c in cs)}
    assert got == want, (render(f), sorted(got ^ want)[:5])


def test_reference_sanity():
    assert reference({"year": "unknown"}, Clause("year", ">=", 2015)) is False
    assert reference({"year": 2016}, Clause("year", ">=", 2015)) is True
    assert reference({}, Clause("year", "not in", (None, 1))) is False
    assert reference({"year": 3}, Clause("year", "not in", (None, 1))) is True
    assert math.isclose(1.0, 1)
