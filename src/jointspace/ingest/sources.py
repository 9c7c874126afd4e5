"""Where items come from: folders, file lists, manifests (CSV / JSONL / parquet), text files and
webdataset shards (``webdataset_source``).

Every source has an ``id`` (what removal is scoped to), ``prune`` (whether items of this source that
are no longer listed get removed) and ``scan()`` yielding ``SourceItem``s and ``FileError``s.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jointspace.errors import BadInputError
from jointspace.ingest.items import IMAGE, TEXT, FileError, SourceItem
from jointspace.ingest.manifest import parse_types, read_jsonl, read_manifest
from jointspace.ingest.webdataset_source import WebDatasetSource, is_shard_spec

__all__ = ["FileListSource", "FolderSource", "ManifestSource", "TextsSource", "WebDatasetSource",
           "open_source",
           "read_jsonl", "read_manifest"]

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".jfif"}
)
TEXT_EXTENSIONS = frozenset({".txt", ".md"})
MANIFEST_EXTENSIONS = frozenset({".csv", ".jsonl", ".parquet"})
PATH_COLUMNS = ("path", "file", "filepath", "file_name", "filename", "image")
TEXT_COLUMNS = ("text", "caption", "captions", "content", "body")
ID_COLUMNS = ("id", "_id", "key")

ScanResult = SourceItem | FileError


@dataclass
class FolderSource:
    """All image (or .txt/.md) files below ``root``; symlinks never lead outside the root."""

    root: Path
    kinds: frozenset[str] = frozenset({IMAGE})
    prune: bool = True

    @property
    def id(self) -> str:
        return str(self.root.resolve())

    def scan(self) -> Iterator[ScanResult]:
        root = self.root.resolve()
        allowed = (IMAGE_EXTENSIONS if IMAGE in self.kinds else frozenset()) | (
            TEXT_EXTENSIONS if TEXT in self.kinds else frozenset()
        )
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.suffix.lower() not in allowed:
                    continue
                problem = _outside_root(path, root)
                if problem:
                    yield FileError(str(path), problem)
                    continue
                yield _file_item(path)


@dataclass
class FileListSource:
    """An explicit list of files; listing is not exhaustive, so nothing is pruned."""

    paths: Sequence[Path]
    prune: bool = False
    id: str = "files"

    def scan(self) -> Iterator[ScanResult]:
        for p in self.paths:
            path = Path(p).absolute()
            if not path.is_file():
                yield FileError(str(path), "not a file or does not exist")
            else:
                yield _file_item(path)


@dataclass
class TextsSource:
    """In-memory texts: ``texts`` with optional ``ids`` and ``metadata`` lists."""

    texts: Sequence[str]
    ids: Sequence[str] | None = None
    metadata: Sequence[dict[str, Any]] | None = None
    id: str = "texts"
    prune: bool = False

    def __post_init__(self) -> None:
        n = len(self.texts)
        for name in ("ids", "metadata"):
            given = getattr(self, name)
            if given is not None and len(given) != n:
                raise BadInputError(f"{n} texts but {len(given)} {name}",
                                    hint=f"give exactly one {name} entry per text, in order")
        if self.ids is not None and len({str(i) for i in self.ids}) != n:
            raise BadInputError("ids must be unique within one call",
                                hint="each id names one text; send each text once")

    def scan(self) -> Iterator[ScanResult]:
        for i, text in enumerate(self.texts):
            key = f"{self.id}#{self.ids[i] if self.ids is not None else i}"
            meta = dict(self.metadata[i]) if self.metadata is not None else {}
            yield SourceItem(key=key, kind=TEXT, text=str(text), metadata=meta)


ON_DUPLICATE = ("error", "last")


@dataclass
class ManifestSource:
    """Rows of a CSV / JSONL / parquet file with a path column, a text column, or both.

    With a path column each row is an image (its text column, if any, becomes searchable caption
    text); otherwise each row is a text. Remaining columns become metadata, typed as
    ``ingest.manifest`` explains (``types`` declares columns). Relative paths resolve against the
    manifest's folder and may not escape it. Two rows with the same image path or text id are an
    error listing them, or with ``on_duplicate="last"`` the last row wins.
    """

    manifest: Path
    path_column: str | None = None
    text_column: str | None = None
    id_column: str | None = None
    prune: bool = True
    types: dict[str, str] | str | None = None  # column -> int / float / str / bool
    on_duplicate: str = "error"

    @property
    def id(self) -> str:
        return str(self.manifest.resolve())

    def __post_init__(self) -> None:
        if self.on_duplicate not in ON_DUPLICATE:
            raise BadInputError(f"unknown on_duplicate {self.on_duplicate!r}",
                                hint="use --on-duplicate error or --on-duplicate last")
        self.types = parse_types(self.types)
        self._checked: list[ScanResult] | None = None

    def check(self) -> None:
        """Read and validate the manifest now (columns, duplicates), before any other work;
        the next :meth:`scan` reuses what was read."""
        self._checked = self._read()

    def scan(self) -> Iterator[ScanResult]:
        out, self._checked = self._checked, None
        return iter(out if out is not None else self._read())

    def _read(self) -> list[ScanResult]:
        rows = read_manifest(self.manifest, self.types)
        self._check_columns(rows)
        return self._unique(list(self._rows(rows)))

    def _check_columns(self, rows: list[dict[str, Any]]) -> None:
        present: dict[str, None] = {}
        for row in rows:
            present.update(dict.fromkeys(row))
        for flag, name in (("--path-column", self.path_column), ("--text-column",
                           self.text_column), ("--id-column", self.id_column)):
            if name is not None and rows and name not in present:
                raise BadInputError(
                    f"{self.manifest} has no column {name!r} ({flag}); its columns: "
                    f"{', '.join(map(repr, present)) or 'none'}",
                    hint=f"check the spelling, or leave {flag} out to pick it automatically")
        unknown = [name for name in self.types if rows and name not in present]
        if unknown:
            raise BadInputError(
                f"{self.manifest} has no column {', '.join(map(repr, unknown))} (--types); its "
                f"columns: {', '.join(map(repr, present))}", hint="check the spelling")

    def _unique(self, out: list[ScanResult]) -> list[ScanResult]:
        last: dict[str, int] = {}
        dupes: dict[str, int] = {}
        for i, s in enumerate(out):
            if isinstance(s, SourceItem):
                if s.key in last:
                    dupes[s.key] = dupes.get(s.key, 1) + 1
                last[s.key] = i
        if not dupes:
            return out
        if self.on_duplicate == "error":
            shown = ", ".join(f"{k!r} ({n} rows)" for k, n in list(dupes.items())[:10])
            more = f" and {len(dupes) - 10} more" if len(dupes) > 10 else ""
            raise BadInputError(
                f"{self.manifest}: {len(dupes)} key(s) appear on several rows: {shown}{more}",
                hint="give each row its own path / id (--id-column), or pass --on-duplicate last "
                     "to keep the last row of each")
        return [s for i, s in enumerate(out)
                if not isinstance(s, SourceItem) or last[s.key] == i]

    def _rows(self, rows: list[dict[str, Any]]) -> Iterator[ScanResult]:
        base = self.manifest.resolve().parent
        for index, row in enumerate(rows):
            path_col = self.path_column or _pick(row, PATH_COLUMNS)
            text_col = self.text_column or _pick(row, TEXT_COLUMNS)
            id_col = self.id_column or _pick(row, ID_COLUMNS)
            if path_col is None and text_col is None:
                raise BadInputError(
                    f"{self.manifest}: row {index} has neither a path nor a text column "
                    f"(columns: {', '.join(row)})",
                    hint="name them with --path-column / --text-column",
                )
            meta = {k: v for k, v in row.items() if k not in (path_col, text_col)}
            text = _as_text(row.get(text_col)) if text_col else None
            if path_col is not None:
                item = self._image_row(row.get(path_col), base, text, meta, index)
            else:
                rid = row.get(id_col) if id_col else index
                item = SourceItem(key=f"{self.id}#{rid}", kind=TEXT, text=text or "", metadata=meta)
            yield item

    def _image_row(self, value: Any, base: Path, text, meta, index) -> ScanResult:
        if not isinstance(value, str) or not value or "\x00" in value:
            return FileError(f"{self.manifest}#row{index}",
                             "empty, non-string or NUL-containing path")
        path = (base / value) if not os.path.isabs(value) else Path(value)
        path = Path(os.path.normpath(path))
        problem = _outside_root(path, base) if not os.path.isabs(value) else None
        if problem:
            return FileError(str(path), problem)
        return SourceItem(key=str(path), kind=IMAGE, path=str(path), text=text, metadata=meta)


def open_source(spec: str | os.PathLike, **options: Any):
    """Pick the source for a path: a folder, a manifest file, or a single media file."""
    path = Path(spec)
    if path.is_dir():
        kinds = options.pop("kinds", None) or frozenset({IMAGE})
        return FolderSource(path, kinds=frozenset(kinds), **options)
    if is_shard_spec(str(spec)):
        return WebDatasetSource(str(spec))
    if path.is_file() and path.suffix.lower() in MANIFEST_EXTENSIONS:
        return ManifestSource(path, **options)
    if path.is_file():
        return FileListSource([path])
    raise BadInputError(
        f"source {str(spec)!r} does not exist",
        hint="pass a folder, a .csv/.jsonl/.parquet manifest, .tar shards, or image files",
    )


def _pick(row: dict[str, Any], names: Sequence[str]) -> str | None:
    return next((n for n in names if n in row), None)


def row_captions(row: dict[str, Any]) -> list[str]:
    """The captions of a pairs row: ``captions`` (a list, or one string) or else ``caption``."""
    caps = row.get("captions", row.get("caption"))
    if caps is None:
        return []
    return [str(c) for c in caps] if isinstance(caps, list | tuple) else [str(caps)]


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def _outside_root(path: Path, root: Path) -> str | None:
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # missing target or a symlink loop
        return f"unresolvable path ({type(exc).__name__}: {exc})"
    if real != root and root not in real.parents:
        return f"resolves outside the source root ({real}); not followed"
    return None


def _file_item(path: Path) -> SourceItem:
    kind = TEXT if path.suffix.lower() in TEXT_EXTENSIONS else IMAGE
    return SourceItem(key=str(path), kind=kind, path=str(path))
