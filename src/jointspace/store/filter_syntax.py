"""The ``--where`` language, read into (field, op, value, column) tuples; ``filters`` builds clauses.

    expression := clause ("and" clause)*
    clause     := field op value | field ["not"] "in" "(" value ("," value)* ")"
                | field "contains" value
    field      := name("."name)*  |  "quoted name"     (a quoted name may hold spaces, any letters)
    value      := "quoted" | 'quoted' | words          (true, false, null, numbers are typed)

Any whitespace (tabs, newlines) separates tokens. Errors say at which column (1-based) reading
stopped and what would have been valid there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jointspace.errors import FilterSyntaxError

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
COMPARISONS = ("==", "!=", "<=", ">=", "=", "<", ">")
_OP_CHARS = "=<>!"
_SPECIAL = "\"'(),"
_NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_HINT = ("write FIELD OP VALUE joined by 'and', with OP one of = != < <= > >= in, not in, "
         "contains; e.g. 'year >= 2015 and label in (cat, dog)'; quote values or field names "
         "holding spaces or symbols")


@dataclass(frozen=True)
class Token:
    kind: str  # word, string, op, (, ), ","
    text: str  # a string's text is its unescaped content
    pos: int  # 0-based offset in the expression
    end: int


def tokenize(expr: str) -> list[Token]:
    tokens, i, n = [], 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch in "\"'":
            j, buf = i + 1, []
            while j < n and expr[j] != ch:
                if expr[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(expr[j])
                j += 1
            if j >= n:
                raise _error(expr, i, f"unclosed quote {ch}", "close the quoted text")
            tokens.append(Token("string", "".join(buf), i, j + 1))
            i = j + 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i, i + 1))
            i += 1
        elif ch in _OP_CHARS:
            j = i
            while j < n and expr[j] in _OP_CHARS:
                j += 1
            tokens.append(Token("op", expr[i:j], i, j))
            i = j
        else:
            j = i
            while j < n and not expr[j].isspace() and expr[j] not in _SPECIAL + _OP_CHARS:
                j += 1
            tokens.append(Token("word", expr[i:j], i, j))
            i = j
    return tokens


def parse_expression(expr: str) -> list[tuple[str, str, Any, int]]:
    """``(field, op, value, column)`` per clause of ``expr``; values of in-lists are tuples."""
    return _Parser(expr).parse()


class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = tokenize(expr)
        self.i = 0

    def parse(self) -> list[tuple[str, str, Any, int]]:
        out: list[tuple[str, str, Any, int]] = []
        if not self.tokens:
            return out
        while True:
            out.append(self._clause())
            tok = self._peek()
            if tok is None:
                return out
            word = tok.text.lower() if tok.kind == "word" else ""
            if word == "or":
                raise self._fail(tok, "'or' is not supported",
                                 "filters are ANDed; for alternatives of one field use "
                                 "FIELD in (a, b)")
            if word != "and":
                raise self._fail(tok, f"expected 'and' or the end, found {tok.text!r}",
                                 "quote a value that holds several words or symbols")
            self.i += 1
            if self._peek() is None:
                raise self._fail(None, "dangling 'and': a clause must follow it", _HINT)

    def _clause(self) -> tuple[str, str, Any, int]:
        tok = self._next("a field name")
        if tok.kind == "word":
            field = tok.text
            if not all(part.isidentifier() for part in field.split(".")):
                raise self._fail(tok, f"invalid field name {field!r}",
                                 'unquoted names are letters, digits and _ joined by dots (a.b); '
                                 'quote other names: "my field" = 1')
        elif tok.kind == "string":
            field = tok.text
            if not field or "." in field:
                raise self._fail(tok, f"quoted field name {field!r} is empty or has a dot",
                                 "dots separate nested fields: write them unquoted (a.b)")
        else:
            raise self._fail(tok, f"expected a field name, found {tok.text!r}", _HINT)
        op_tok = self._next("an operator")
        if tok.kind == "word" and tok.text.lower() in ("not", "or", "and") and op_tok.kind != "op":
            raise self._fail(tok, f"a clause cannot start with {tok.text!r}",
                             "there is no 'not' / 'or' before a clause; use != or not in (...) "
                             "and several ANDed clauses")
        op = self._operator(op_tok)
        if op in ("in", "not in"):
            return field, op, self._list(), tok.pos + 1
        return field, op, self._value(op), tok.pos + 1

    def _operator(self, tok: Token) -> str:
        word = tok.text.lower()
        if tok.kind == "op" and tok.text in COMPARISONS:
            return "=" if tok.text == "==" else tok.text
        if tok.kind == "word" and word in ("in", "contains"):
            return word
        if tok.kind == "word" and word == "not":
            nxt = self._next("'in' after 'not'")
            if nxt.kind == "word" and nxt.text.lower() == "in":
                return "not in"
            raise self._fail(nxt, "'not' must be followed by 'in'", _HINT)
        if tok.kind in ("word", "string"):
            raise self._fail(tok, f"unknown operator {tok.text!r} (a field name with spaces?)",
                             "quote a field name holding spaces: \"my field\" = 1")
        raise self._fail(tok, f"unknown operator {tok.text!r}", _HINT)

    def _value(self, op: str) -> Any:
        tok = self._next(f"a value after {op!r}")
        if tok.kind == "string":
            return tok.text
        if tok.kind != "word":
            raise self._fail(tok, f"unexpected {tok.text!r} after {op!r}",
                             "quote the value if it really starts with that character")
        start = end = tok
        while (nxt := self._peek()) is not None and nxt.kind == "word":
            if nxt.text.lower() in ("and", "or"):
                break
            end = nxt
            self.i += 1
        if start is end:
            return self._scalar(tok)
        return self.expr[start.pos:end.end]  # several words: one string, spacing kept

    def _list(self) -> tuple[Any, ...]:
        opener = self._next("'(' starting the list")
        if opener.kind != "(":
            raise self._fail(opener, "'in' needs a parenthesised list, e.g. (a, b)", _HINT)
        values: list[Any] = []
        while True:
            tok = self._next("a list value or ')'")
            if tok.kind == ")" and not values:
                raise self._fail(tok, "empty list", "give at least one value: (a, b)")
            if tok.kind == "string":
                values.append(tok.text)
            elif tok.kind == "word":
                start = end = tok
                while (nxt := self._peek()) is not None and nxt.kind == "word":
                    end = nxt
                    self.i += 1
                values.append(self._scalar(tok) if start is end
                              else self.expr[start.pos:end.end])
            else:
                raise self._fail(tok, f"unexpected {tok.text!r} in a list", _HINT)
            sep = self._next("',' or ')'")
            if sep.kind == ")":
                return tuple(values)
            if sep.kind != ",":
                raise self._fail(sep, f"expected ',' or ')', found {sep.text!r}",
                                 "quote list values holding symbols")

    def _scalar(self, tok: Token) -> Any:
        raw, low = tok.text, tok.text.lower()
        if low in ("true", "false"):
            return low == "true"
        if low in ("null", "none"):
            return None
        if low in _NON_FINITE:
            raise self._fail(tok, f"{raw!r} is not a finite number",
                             f"to match the text, quote it: \"{raw}\"")
        if _INT.fullmatch(raw):
            return int(raw)
        return float(raw) if _FLOAT.fullmatch(raw) else raw

    def _peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self, wanted: str) -> Token:
        tok = self._peek()
        if tok is None:
            raise self._fail(None, f"expected {wanted}, found the end", _HINT)
        self.i += 1
        return tok

    def _fail(self, tok: Token | None, what: str, hint: str) -> FilterSyntaxError:
        return _error(self.expr, len(self.expr) if tok is None else tok.pos, what, hint)


def _error(expr: str, pos: int, what: str, hint: str) -> FilterSyntaxError:
    err = FilterSyntaxError(f"cannot parse filter {expr!r} at column {pos + 1}: {what}", hint=hint)
    err.column = pos + 1
    return err
