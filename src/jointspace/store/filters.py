"""Metadata filters: ``year>=2015``, ``label in (cat, dog)``, ``kind = image``.

A filter is a list of clauses ANDed together. It is parsed from strings (the CLI's ``--where``) or
dicts (``{"year": {">=": 2015}, "label": ["cat", "dog"]}``) and compiled to a parameterised SQL
predicate: values are always bound parameters and field names are validated, so a hostile filter
can only ever select rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jointspace.errors import BadInputError, FilterSyntaxError
from jointspace.store.filter_syntax import parse_expression

OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")
CONTAINS = "contains"  # list membership: its own AST node, Contains
_SQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
COLUMNS = {"id", "kind", "source", "path", "key"}  # filterable item columns; the rest is metadata
_BAD_NAME_CHARS = re.compile(r'["\\\x00-\x1f\x7f]')
MAX_VALUES = 10_000


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: Any  # a scalar, or a tuple for in / not in


@dataclass(frozen=True)
class Contains:
    """``field contains value``: a list-valued metadata field holds ``value`` (type-strict, like
    ``=``); a scalar field matches when it equals ``value``. ``op`` is a fixed tag."""

    field: str
    value: Any  # a scalar, never None
    op: str = "contains"


@dataclass(frozen=True)
class Filter:
    clauses: tuple[Clause | Contains, ...]

    def to_sql(self) -> tuple[str, list[Any]]:
        """A SQL boolean expression over the ``items`` table and its parameters.

        Semantics: a missing field is null; numbers and strings never compare with each other
        (SQLite would order every number below every string, so ``year>=2015`` would match
        ``"unknown"``); ``!=`` and ``not in`` need the field present; null in a list means missing.
        """
        parts, params = [], []
        for c in self.clauses:
            if isinstance(c, Contains):
                path = _json_path(c.field)
                doc = "CASE WHEN json_type(annotations, ?) IS NOT NULL THEN annotations ELSE " \
                      "metadata END"
                parts.append(f"EXISTS (SELECT 1 FROM json_each({doc}, ?) AS j WHERE j.value = ? "
                             "AND j.type NOT IN ('object', 'array'))")
                params += [path, path, c.value]
                continue
            if c.field in COLUMNS:
                lhs, lhs_params = c.field, []
            else:  # annotations override the source's metadata, as in what items show
                lhs = "COALESCE(json_extract(annotations, ?), json_extract(metadata, ?))"
                path = _json_path(c.field)
                lhs_params = [path, path]
            if c.op in ("in", "not in"):
                values = [v for v in c.value if v is not None]
                marks = ",".join("?" * len(values))
                if c.op == "in":
                    terms = [f"{lhs} IN ({marks})"] * bool(values)
                    terms += [f"{lhs} IS NULL"] * (len(values) < len(c.value))
                    parts.append("(" + " OR ".join(terms) + ")")
                    params += (lhs_params + values) * bool(values) + lhs_params * (
                        len(values) < len(c.value))
                else:
                    parts.append(f"({lhs} IS NOT NULL" + f" AND {lhs} NOT IN ({marks}))"
                                 if values else f"{lhs} IS NOT NULL")
                    params += lhs_params + (lhs_params + values if values else [])
            elif c.value is None:
                parts.append(f"{lhs} IS {'NOT ' if c.op == '!=' else ''}NULL")
                params += lhs_params
            elif c.op in ("=", "!="):
                parts.append(f"{lhs} {_SQL_OPS[c.op]} ?")
                params += lhs_params + [c.value]
            else:  # ranges: only within one type
                kinds = "'text'" if isinstance(c.value, str) else "'integer', 'real'"
                parts.append(f"({lhs} {_SQL_OPS[c.op]} ? AND typeof({lhs}) IN ({kinds}))")
                params += lhs_params + [c.value] + lhs_params
        return (" AND ".join(parts) or "1"), params


def parse_filter(where: str | Mapping[str, Any] | Iterable[str] | Filter | None) -> Filter | None:
    """Parse a filter from a string (clauses joined by ``and``), several strings, or a dict."""
    if where is None or isinstance(where, Filter):
        return where
    if isinstance(where, Mapping):
        return Filter(tuple(_clauses_from_dict(where)))
    if isinstance(where, str):
        where = [where]
    clauses: list[Clause | Contains] = []
    for expr in where:
        if not isinstance(expr, str):
            raise FilterSyntaxError(f"filter must be a string, got {type(expr).__name__}")
        for field, op, value, column in parse_expression(expr):
            try:
                clauses.append(_clause(field, op, value))
            except FilterSyntaxError as exc:
                raise FilterSyntaxError(f"{exc.message} (in {expr!r} at column {column})",
                                        hint=exc.hint) from None
    return Filter(tuple(clauses)) if clauses else None


def _json_path(field: str) -> str:
    return "$." + ".".join(f'"{p}"' for p in field.split("."))


def _clauses_from_dict(where: Mapping[str, Any]) -> Iterable[Clause]:
    for field, cond in where.items():
        if isinstance(cond, Mapping):
            for op, value in cond.items():
                yield _clause(field, str(op).lower(), value)
        elif isinstance(cond, (list, tuple, set, frozenset)):
            yield _clause(field, "in", cond)
        else:
            yield _clause(field, "=", cond)


def _clause(field: str, op: str, value: Any) -> Clause | Contains:
    if not _valid_field(field):
        raise FilterSyntaxError(
            f"invalid field name {field!r}",
            hint='unquoted names are letters, digits and _ joined by dots (a.b); quote other '
                 'names: "my field" = 1 (no quotes, backslashes or control characters inside)')
    if op == CONTAINS:
        _check_scalar(field, value)
        if value is None or field in COLUMNS:
            raise FilterSyntaxError(f"{field} contains {value!r}: 'contains' takes a value and "
                                    "works on metadata fields", hint="e.g. labels contains cat")
        return Contains(field, value)
    if op not in OPS:
        raise FilterSyntaxError(f"unknown operator {op!r}",
                                hint=f"use one of {', '.join(OPS)}, {CONTAINS}")
    if op in ("in", "not in"):
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise FilterSyntaxError(f"{field} {op}: needs a list of values")
        value = tuple(value)
        if not value or len(value) > MAX_VALUES:
            raise FilterSyntaxError(f"{field} {op}: needs 1 to {MAX_VALUES} values")
        for v in value:
            _check_scalar(field, v)
    else:
        _check_scalar(field, value)
        if value is None and op not in ("=", "!="):
            raise FilterSyntaxError(f"{field} {op} null: only = and != compare with null")
    return Clause(field, op, value)


def _valid_field(field: Any) -> bool:
    """Dotted path of non-empty names; a name is an identifier, or anything printable but quotes."""
    if not isinstance(field, str) or not field or len(field) > 256:
        return False
    parts = field.split(".")
    if len(parts) == 1 and not field.isidentifier():
        return not _BAD_NAME_CHARS.search(field) and field.strip() == field
    return all(p.isidentifier() for p in parts)


def _check_scalar(field: str, value: Any) -> None:
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise FilterSyntaxError(f"{field}: unsupported value type {type(value).__name__}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
        raise FilterSyntaxError(f"{field}: integer out of range")
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterSyntaxError(f"{field}: non-finite number {value!r}",
                                hint=f'to match the text, quote it: {field} = "{value!r}"')
    if isinstance(value, str) and "\x00" in value:
        raise FilterSyntaxError(f"{field}: NUL byte in value")


def with_kind(flt: Filter | None, kind: str | None) -> Filter | None:
    """``flt`` restricted to items of ``kind`` ("image" or "text"; None: unchanged)."""
    if kind is None:
        return flt
    if kind not in ("image", "text"):
        raise BadInputError(f"kind must be 'image' or 'text', not {kind!r}")
    return Filter((flt.clauses if flt else ()) + (Clause("kind", "=", kind),))
