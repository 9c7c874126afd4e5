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

OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")
_SQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
COLUMNS = {"id", "kind", "source", "path", "key"}  # filterable item columns; the rest is metadata
_FIELD = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_FIELD_RE = re.compile(rf"^{_FIELD}$")
_CLAUSE_RE = re.compile(
    rf"^\s*(?P<field>{_FIELD})\s*(?P<op>not\s+in\b|in\b|==|!=|<=|>=|=|<|>)\s*(?P<value>.*?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_TOKEN_RE = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,()\s][^,()]*?)\s*(?:,|$)""")
MAX_VALUES = 10_000


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: Any  # a scalar, or a tuple for in / not in


@dataclass(frozen=True)
class Filter:
    clauses: tuple[Clause, ...]

    def to_sql(self) -> tuple[str, list[Any]]:
        """A SQL boolean expression over the ``items`` table and its parameters.

        Semantics: a missing field is null; numbers and strings never compare with each other
        (SQLite would order every number below every string, so ``year>=2015`` would match
        ``"unknown"``); ``!=`` and ``not in`` need the field present; null in a list means missing.
        """
        parts, params = [], []
        for c in self.clauses:
            if c.field in COLUMNS:
                lhs, lhs_params = c.field, []
            else:  # annotations override the source's metadata, as in what items show
                lhs = "COALESCE(json_extract(annotations, ?), json_extract(metadata, ?))"
                path = "$." + ".".join(f'"{p}"' for p in c.field.split("."))
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
    clauses: list[Clause] = []
    for expr in where:
        if not isinstance(expr, str):
            raise FilterSyntaxError(f"filter must be a string, got {type(expr).__name__}")
        for part in _split_and(expr):
            clauses.append(_parse_clause(part))
    return Filter(tuple(clauses)) if clauses else None


def _split_and(expr: str) -> list[str]:
    # split on ' and ' outside quotes and parentheses
    parts, buf, quote, depth = [], [], None, 0
    i = 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            buf.append(ch)
            if ch == "\\" and i + 1 < len(expr):
                buf.append(expr[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif ch in "()":
            depth += 1 if ch == "(" else -1
            buf.append(ch)
        elif depth == 0 and expr[i : i + 5].lower() == " and ":
            parts.append("".join(buf))
            buf = []
            i += 4
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return [p for p in (p.strip() for p in parts) if p]


def _parse_clause(text: str) -> Clause:
    m = _CLAUSE_RE.match(text)
    if not m:
        raise FilterSyntaxError(
            f"cannot parse filter {text!r}",
            hint="use FIELD OP VALUE with OP one of = != < <= > >= in, e.g. 'year>=2015' "
            "or 'label in (cat, dog)'",
        )
    field, value = m["field"], m["value"]
    op = " ".join(m["op"].lower().split())
    op = "=" if op == "==" else op
    if op in ("in", "not in"):
        if not (value.startswith("(") and value.endswith(")")):
            raise FilterSyntaxError(f"{text!r}: 'in' needs a parenthesised list, e.g. (a, b)")
        return _clause(field, op, _parse_list(value[1:-1], text))
    if not value:
        raise FilterSyntaxError(f"{text!r}: missing value after {op!r}")
    if value[0] in "=<>!":
        raise FilterSyntaxError(f"{text!r}: unexpected {value[0]!r} after {op!r}",
                                hint="quote the value if it really starts with that character")
    return _clause(field, op, _parse_value(value))


def _parse_list(body: str, text: str) -> tuple[Any, ...]:
    if not body.strip():
        raise FilterSyntaxError(f"{text!r}: empty list")
    values, pos = [], 0
    while pos < len(body):
        m = _TOKEN_RE.match(body, pos)
        if not m or m.end() == pos:
            raise FilterSyntaxError(f"{text!r}: cannot parse list near {body[pos:pos + 20]!r}")
        values.append(_parse_value(m.group(1)))
        pos = m.end()
    return tuple(values)


def _parse_value(raw: str) -> Any:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _clauses_from_dict(where: Mapping[str, Any]) -> Iterable[Clause]:
    for field, cond in where.items():
        if isinstance(cond, Mapping):
            for op, value in cond.items():
                yield _clause(field, str(op).lower(), value)
        elif isinstance(cond, (list, tuple, set, frozenset)):
            yield _clause(field, "in", cond)
        else:
            yield _clause(field, "=", cond)


def _clause(field: str, op: str, value: Any) -> Clause:
    if not isinstance(field, str) or not _FIELD_RE.match(field):
        raise FilterSyntaxError(
            f"invalid field name {field!r}", hint="fields are letters, digits, _ and dots"
        )
    if op not in OPS:
        raise FilterSyntaxError(f"unknown operator {op!r}", hint=f"use one of {', '.join(OPS)}")
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


def _check_scalar(field: str, value: Any) -> None:
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise FilterSyntaxError(f"{field}: unsupported value type {type(value).__name__}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63 - 1:
        raise FilterSyntaxError(f"{field}: integer out of range")
    if isinstance(value, float) and not math.isfinite(value):
        raise FilterSyntaxError(f"{field}: non-finite number {value!r}")
    if isinstance(value, str) and "\x00" in value:
        raise FilterSyntaxError(f"{field}: NUL byte in value")


def with_kind(flt: Filter | None, kind: str | None) -> Filter | None:
    """``flt`` restricted to items of ``kind`` ("image" or "text"; None: unchanged)."""
    if kind is None:
        return flt
    if kind not in ("image", "text"):
        raise BadInputError(f"kind must be 'image' or 'text', not {kind!r}")
    return Filter((flt.clauses if flt else ()) + (Clause("kind", "=", kind),))
