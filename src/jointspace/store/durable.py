"""Durability helpers shared by the SQLite truth and the index snapshots."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename or link inside ``directory`` survive power loss (POSIX: fsync the dir)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
