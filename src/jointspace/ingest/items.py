"""Plain records that flow out of ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

IMAGE = "image"
TEXT = "text"


@dataclass
class SourceItem:
    """One thing to embed: an image file or a text, with its metadata.

    ``key`` identifies the item across runs (absolute path for files, ``manifest#id`` for rows);
    ``kind`` says which modality is embedded. An image item may also carry ``text`` (e.g. captions)
    used for keyword search. ``member`` = (byte offset, length) when the item is a part of the file
    at ``path`` (an image inside a webdataset shard); its stored path is then ``key``.
    """

    key: str
    kind: str
    path: str | None = None
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    member: tuple[int, int] | None = None


@dataclass(frozen=True)
class FileError:
    """A per-file problem recorded during ingest; never aborts the batch."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}
