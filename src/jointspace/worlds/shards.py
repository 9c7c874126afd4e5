"""Webdataset ``.tar`` shards written with the standard library (deterministic bytes).

Each sample is ``<key>.png`` (the image), ``<key>.json`` (the manifest row) and ``<key>.txt``
(the first caption), the layout ``webdataset.WebDataset(...).decode("pil")`` reads.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path


class ShardWriter:
    """Per-split rolling shards: ``<dir>/<split>-000000.tar``, ``shard_size`` samples each."""

    def __init__(self, directory: str | Path, shard_size: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self._open: dict[str, tuple[tarfile.TarFile, int, int]] = {}  # split -> (tar, shard, n)
        self.paths: list[str] = []

    def write(self, split: str, row: dict, png: bytes) -> None:
        """Append one sample to the current shard of ``split``."""
        tar, shard, n = self._open.get(split, (None, -1, self.shard_size))
        if n >= self.shard_size:
            if tar is not None:
                tar.close()
            shard += 1
            path = self.directory / f"{split}-{shard:06d}.tar"
            self.paths.append(str(path))
            tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)  # noqa: SIM115 closed in close()
            n = 0
        key = Path(row["file"]).stem
        _add(tar, f"{key}.png", png)
        _add(tar, f"{key}.json", json.dumps(row).encode())
        _add(tar, f"{key}.txt", (row["captions"][0] if row["captions"] else "").encode())
        self._open[split] = (tar, shard, n + 1)

    def close(self) -> list[str]:
        """Close every open shard; return all shard paths written."""
        for tar, _, _ in self._open.values():
            tar.close()
        self._open.clear()
        return self.paths


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 0  # same world -> same bytes
    tar.addfile(info, io.BytesIO(data))
