"""A parsed ``Filter`` as a Qdrant filter, with the SQL backend's semantics where Qdrant has them.

As in SQLite: clauses are ANDed; a missing (or null) field is null; numbers match numbers whatever
their type (2015 == 2015.0, via a range), strings match strings exactly; ``!=`` and ``not in`` need
the field present; null in a list means missing. Item metadata (annotations merged over the
source's) lives under the ``fields`` payload key; ``kind``, ``source``, ``path``, ``key`` at the
top, ``id`` is the point id.

Differences, each refused or documented rather than answered wrongly:
- ranges over strings (``name >= "b"``) have no Qdrant counterpart: FilterSyntaxError;
- a list-valued field matches ``=`` when any element does (SQLite compares the whole JSON text);
- booleans are their own type (SQLite's JSON makes ``true`` equal to ``1``).
"""

from __future__ import annotations

from typing import Any

from jointspace.errors import FilterSyntaxError
from jointspace.store.filters import COLUMNS, Clause, Filter

TOP_LEVEL = COLUMNS - {"id"}
_RANGE = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def to_qdrant(flt: Filter) -> Any:
    """The ``qdrant_client.models.Filter`` equivalent to ``flt``."""
    from qdrant_client import models

    return models.Filter(must=[_clause(c) for c in flt.clauses])


def payload_key(field: str) -> str:
    return field if field in TOP_LEVEL else f"fields.{field}"


def _clause(c: Clause) -> Any:
    from qdrant_client import models

    if c.field == "id":
        return _id_clause(c)
    key = payload_key(c.field)
    empty = models.IsEmptyCondition(is_empty=models.PayloadField(key=key))
    if c.op in ("in", "not in"):
        values = [v for v in c.value if v is not None]
        if c.op == "in":
            should = [_equals(key, v) for v in values] + [empty] * (len(values) < len(c.value))
            return models.Filter(should=should)
        return models.Filter(must_not=[empty] + [_equals(key, v) for v in values])
    if c.value is None:
        return empty if c.op == "=" else models.Filter(must_not=[empty])
    if c.op == "=":
        return _equals(key, c.value)
    if c.op == "!=":
        return models.Filter(must_not=[empty, _equals(key, c.value)])
    if isinstance(c.value, str | bool):
        raise FilterSyntaxError(
            f"{c.field} {c.op} {c.value!r}: the Qdrant backend compares only numbers by range",
            hint="use = / in for strings and booleans, or a local collection for string ranges")
    return models.FieldCondition(key=key, range=models.Range(**{_RANGE[c.op]: c.value}))


def _equals(key: str, value: Any) -> Any:
    from qdrant_client import models

    if isinstance(value, bool | str):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    # a range, so an int matches a float of the same value as SQLite's = does
    return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))


def _id_clause(c: Clause) -> Any:
    from qdrant_client import models

    if c.op in _RANGE:
        raise FilterSyntaxError(f"id {c.op} ...: the Qdrant backend filters ids by = and in only",
                                hint="list the ids: 'id in (1, 2, 3)'")
    values = c.value if c.op in ("in", "not in") else (c.value,)
    ids = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
    has = models.HasIdCondition(has_id=ids)
    if c.op in ("=", "in"):
        return has  # an empty has_id matches nothing, like SQL's id = 'text'
    return models.Filter(must_not=[has])
