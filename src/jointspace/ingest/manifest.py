"""Reading manifests (CSV / JSONL / parquet) into rows of JSON-safe values, keeping data exactly.

- CSV cells are text. A column becomes numbers only when every non-empty cell is a number whose
  text round-trips (``7`` yes; ``007``, ``1.50``, ``1e3`` keep the whole column as text); in such a
  column ``nan`` / ``inf`` are null. An empty cell is null. ``--types year=int,code=str`` declares
  a column's type instead (int, float, str, bool), for any format.
- JSONL values are JSON already; NaN / Infinity become null.
- Parquet timestamps, dates and times become ISO strings, decimals exact strings, binary base64,
  structs / maps / lists nested JSON.
- A UTF-8 byte-order mark is dropped; duplicate column names (or JSON keys) are an error.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jointspace.errors import BadInputError

TYPES = ("int", "float", "str", "bool")
_INT = re.compile(r"[+-]?[0-9]+")
_NON_FINITE = {"nan", "-nan", "+nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"}
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_types(spec: str | Mapping[str, str] | None) -> dict[str, str]:
    """``"year=int,code=str"`` (or a mapping) -> ``{"year": "int", "code": "str"}``."""
    if not spec:
        return {}
    pairs = spec.items() if isinstance(spec, Mapping) else (
        part.partition("=")[::2] for part in spec.split(",") if part.strip())
    out = {}
    for name, kind in pairs:
        name, kind = name.strip(), kind.strip().lower()
        if not name or kind not in TYPES:
            raise BadInputError(f"cannot read column type {name}={kind!r}",
                                hint=f"write --types COLUMN=TYPE,... with TYPE one of "
                                     f"{', '.join(TYPES)}, e.g. --types year=int,code=str")
        out[name] = kind
    return out


def read_manifest(path: Path, types: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Rows of a manifest as dicts of JSON-safe values (see the module docstring)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            rows = _read_csv(path, set(types or ()))
        elif suffix == ".jsonl":
            rows = read_jsonl(path)
        elif suffix == ".parquet":
            rows = _read_parquet(path)
        else:
            raise BadInputError(f"unknown manifest type {suffix!r}",
                                hint="use .csv, .jsonl or .parquet")
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise BadInputError(f"cannot read manifest {path}: {exc}") from exc
    return _apply_types(rows, types, path) if types else rows


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per non-blank line; a bad line is a BadInputError naming path:line."""
    rows = []
    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                raise BadInputError(f"{path}:{n}: invalid JSON ({exc.msg})") from exc
            except RecursionError:
                raise BadInputError(f"{path}:{n}: JSON nested too deeply") from None
            except _DuplicateKeys as exc:
                raise BadInputError(f"{path}:{n}: duplicate keys {exc.args[0]}",
                                    hint="each key may appear once per object") from None
            if not isinstance(row, dict):
                raise BadInputError(f"{path}:{n}: each line must be a JSON object")
            rows.append(json_safe(row))
    return rows


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON data: non-finite floats null, dates ISO, bytes base64, nested ok."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if type(value).__module__ == "numpy" and hasattr(value, "item"):  # e.g. a float16 cell
        return json_safe(value.item())
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                         for p in value):  # a parquet map read as (key, value) pairs
            return {k: json_safe(v) for k, v in value}
        return [json_safe(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)  # durations, intervals and anything newer: their text


# --- CSV --------------------------------------------------------------------------------------
def _read_csv(path: Path, declared: set[str]) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return []
        _refuse_duplicates(header, path)
        raw = []
        for cells in reader:
            if not cells:
                continue
            if len(cells) > len(header):
                raise BadInputError(f"{path}:{reader.line_num}: more cells than the header "
                                    f"has columns", hint="quote cells that contain commas")
            raw.append(cells + [""] * (len(header) - len(cells)))
    columns = [[row[i] for row in raw] for i in range(len(header))]
    typed = [col if name in declared else _infer(col) for name, col in zip(header, columns)]
    return [{name: typed[i][r] for i, name in enumerate(header)} for r in range(len(raw))]


def _infer(cells: list[str]) -> list[Any]:
    """A column's values: numbers if every non-empty cell round-trips as one, else text."""
    numbers: list[Any] = []
    for cell in cells:
        if cell == "" or cell.lower() in _NON_FINITE:
            numbers.append(None)
        elif _INT.fullmatch(cell) and str(int(cell)) == cell:
            numbers.append(int(cell))
        else:
            try:
                number = float(cell)
            except ValueError:
                number = None
            if number is None or repr(number) != cell:
                return [None if c == "" else c for c in cells]
            numbers.append(number)
    return numbers


# --- parquet ----------------------------------------------------------------------------------
def _read_parquet(path: Path) -> list[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        _refuse_duplicates(table.column_names, path)
        columns = {name: _column_values(table.column(name)) for name in table.column_names}
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own error family
        if type(exc).__module__.startswith("pyarrow") or isinstance(exc, (ValueError, OSError)):
            raise BadInputError(f"cannot read parquet manifest {path}: {exc}") from exc
        raise
    return [{name: values[r] for name, values in columns.items()}
            for r in range(table.num_rows)]


def _column_values(column) -> list[Any]:
    import pyarrow as pa

    try:
        values = column.to_pylist()
    except (ValueError, OverflowError, pa.ArrowException):  # e.g. a year past 9999
        values = column.cast(pa.string()).to_pylist()
    return [json_safe(v) for v in values]


# --- shared -----------------------------------------------------------------------------------
class _DuplicateKeys(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKeys(sorted({k for k, _ in pairs if k in seen or seen.add(k)}))
    return out


def _refuse_duplicates(names: list[str], path: Path) -> None:
    seen: set[str] = set()
    dupes = sorted({n for n in names if n in seen or seen.add(n)})
    if dupes:
        raise BadInputError(f"{path}: duplicate column names {dupes}",
                            hint="rename the columns so each name appears once")


def _apply_types(rows: list[dict[str, Any]], types: Mapping[str, str],
                 path: Path) -> list[dict[str, Any]]:
    for n, row in enumerate(rows, 1):
        for name, kind in types.items():
            if name in row:
                row[name] = _cast(row[name], kind, name, f"{path} row {n}")
    return rows


def _cast(value: Any, kind: str, name: str, where: str) -> Any:
    if value is None or value == "":
        return None
    try:
        if kind == "str":
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if kind == "bool":
            return value if isinstance(value, bool) else _BOOLS[str(value).strip().lower()]
        if kind == "int":
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, bool) or not _INT.fullmatch(str(value).strip()):
                raise ValueError
            return int(str(value).strip())
        number = float(value)
        return number if math.isfinite(number) else None
    except (ValueError, KeyError, TypeError):
        raise BadInputError(f"{where}: column {name!r} is declared {kind} but holds {value!r}",
                            hint="fix the cell, or declare another type with --types") from None
