"""Webdataset ``.tar`` shards as an index source: one image item per sample.

A sample is the members sharing a key (webdataset's rule: the name up to its first dot), e.g.
``000001.png`` + ``000001.txt`` + ``000001.json``. The image member is embedded; a ``txt`` /
``caption`` member (or the json's ``caption`` / ``captions``) becomes the item's searchable text;
the json object becomes metadata. Scanning streams the tar headers only; each image is read later
by its offset in the shard, so memory stays bounded however large the shards.
"""

from __future__ import annotations

import glob
import json
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jointspace.errors import BadInputError
from jointspace.ingest.items import IMAGE, FileError, SourceItem
from jointspace.ingest.manifest import json_safe

SHARD_IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "jfif")
CAPTION_EXTS = ("txt", "caption", "cap", "text")
MAX_SIDE_MEMBER_BYTES = 10 * 1024 * 1024  # captions and json read while scanning


def is_shard_spec(spec: str) -> bool:
    """Whether ``spec`` names webdataset shards (``a.tar``, ``dir/train-*.tar``, ``a-{0..3}.tar``)."""
    return spec.lower().endswith(".tar")


def shard_paths(spec: str) -> list[str]:
    """Expand ``{a..b}`` braces and globs into existing shard files, sorted."""
    from braceexpand import braceexpand

    paths: list[str] = []
    for part in braceexpand(spec):
        paths += sorted(glob.glob(part)) if any(c in part for c in "*?[") else [part]
    missing = [p for p in paths if not os.path.isfile(p)]
    if not paths or missing:
        raise BadInputError(f"no shard file {missing[0] if missing else spec!r}",
                            hint="give existing .tar shards, e.g. world/shards/train-*.tar")
    return paths


@dataclass
class WebDatasetSource:
    """The samples of one or more uncompressed webdataset ``.tar`` shards."""

    spec: str
    prune: bool = True

    @property
    def id(self) -> str:
        return str(Path(self.spec).absolute())

    def scan(self) -> Iterator[SourceItem | FileError]:
        for shard in shard_paths(self.spec):
            yield from _scan_shard(Path(shard).absolute())


def _scan_shard(shard: Path) -> Iterator[SourceItem | FileError]:
    from webdataset.tariterators import base_plus_ext

    try:
        # "r:" (no compression): member offsets are positions in the file itself
        with tarfile.open(shard, mode="r:") as tar:
            samples: dict[str, dict[str, tarfile.TarInfo]] = {}
            for member in tar:  # headers only: tarfile seeks over the data
                if not member.isfile():
                    continue
                key, ext = base_plus_ext(member.name)
                if key is not None:
                    samples.setdefault(key, {})[ext.lower()] = member
            for key, members in samples.items():
                yield _sample(tar, shard, key, members)
    except (tarfile.TarError, OSError, EOFError) as exc:
        yield FileError(str(shard), f"cannot read the shard as an uncompressed tar ({exc}); "
                                    "decompress .tar.gz shards first")


def _sample(tar: tarfile.TarFile, shard: Path, key: str,
            members: dict[str, tarfile.TarInfo]) -> SourceItem | FileError:
    image = next((members[e] for e in SHARD_IMAGE_EXTS if e in members), None)
    if image is None:
        return FileError(f"{shard}#{key}", f"sample has no image member (members: "
                                           f"{', '.join(sorted(members))})")
    meta: dict[str, Any] = {}
    if "json" in members:
        try:
            row = json.loads(_read(tar, members["json"]))
        except (ValueError, RecursionError) as exc:
            return FileError(f"{shard}#{members['json'].name}", f"invalid json member ({exc})")
        meta = json_safe(row) if isinstance(row, dict) else {"json": json_safe(row)}
    text = next((_read(tar, members[e]).decode("utf-8", "replace").strip()
                 for e in CAPTION_EXTS if e in members), None)
    if text is None:
        caps = meta.pop("captions", None) or meta.pop("caption", None)
        text = "\n".join(map(str, caps)) if isinstance(caps, list) else caps
    return SourceItem(key=f"{shard}#{image.name}", kind=IMAGE, path=str(shard),
                      text=str(text) if text is not None else None, metadata=meta,
                      member=(image.offset_data, image.size))


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo,
          max_bytes: int = MAX_SIDE_MEMBER_BYTES) -> bytes:
    f = tar.extractfile(member)
    return f.read(max_bytes) if f is not None else b""


def split_member(path: str) -> tuple[str, str]:
    """``"SHARD.tar#MEMBER"`` (a shard item's stored path) -> (shard file, member name)."""
    at = path.lower().find(".tar#")
    if at < 0:
        raise ValueError(f"not a shard member path: {path!r}")
    return path[:at + 4], path[at + 5:]


def read_member(shard: str, name: str, max_bytes: int) -> bytes:
    """The bytes of the regular member ``name`` of an uncompressed shard (headers read with
    tarfile, data read in place); OSError if it is missing, not a file or over ``max_bytes``."""
    try:
        with tarfile.open(shard, mode="r:") as tar:
            while (member := tar.next()) is not None:  # stops at the first match
                if member.name == name and member.isfile():
                    if member.size > max_bytes:
                        raise OSError(f"member {name} is {member.size} bytes, over the "
                                      f"{max_bytes}-byte limit")
                    return _read(tar, member, member.size)
    except (tarfile.TarError, EOFError) as exc:
        raise OSError(f"cannot read the shard as an uncompressed tar ({exc})") from exc
    raise FileNotFoundError(f"no member {name} in {shard}")
