"""The on-disk export cache: one directory per (model files, runtime format), described by data.

``<root>/<key>/manifest.json`` says what was exported and how to run it without torch: the
embedding size, per tower the ONNX files per runtime, the tokenizer settings, the parity each
runtime measured against eager fp32, and ``auto``'s choice per CPU. ``key`` hashes the model
directory's path and its files' sizes and mtimes, so a re-saved model gets a fresh entry.

The root is ``$JOINTSPACE_RUNTIME_CACHE``, else ``$XDG_CACHE_HOME/jointspace/runtimes`` (default
``~/.cache/jointspace/runtimes``), beside the Hugging Face cache. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

FORMAT = 3  # bump when exported graphs or the manifest change meaning (3: int8 schemes)
CACHE_ENV = "JOINTSPACE_RUNTIME_CACHE"
MANIFEST = "manifest.json"


def cache_root() -> Path:
    """Where exports are cached (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jointspace" / "runtimes"


def model_key(model_dir: Path, kind: str) -> str:
    """A key that changes when the model's files change (path, names, sizes, mtimes)."""
    model_dir = Path(model_dir).resolve()
    h = hashlib.sha256(f"{FORMAT}\0{kind}\0{model_dir}\0".encode())
    for path in sorted(model_dir.rglob("*")):
        if path.is_file() and ".cache" not in path.parts:
            st = path.stat()
            h.update(f"{path.relative_to(model_dir)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:24]


def cpu_signature() -> str:
    """The CPU model and core count: ``auto``'s timings hold for this machine only."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                        name)
    except OSError:
        pass
    return f"{name} x{os.cpu_count()}"


class CacheEntry:
    """One model's export directory and its manifest."""

    def __init__(self, model_dir: Path, kind: str) -> None:
        self.model_dir = Path(model_dir).resolve()
        self.directory = cache_root() / model_key(self.model_dir, kind)

    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when nothing was exported yet (or it is unreadable)."""
        try:
            return json.loads((self.directory / MANIFEST).read_text())
        except (OSError, ValueError):
            return None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically (a crash leaves the old one or the new one)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f"{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, self.directory / MANIFEST)

    def file(self, tower: str, runtime: str) -> Path | None:
        """The exported graph of ``tower`` for ``runtime``, if it is cached and present."""
        name = ((self.manifest() or {}).get(tower) or {}).get("files", {}).get(runtime)
        path = self.directory / name if name else None
        return path if path is not None and path.is_file() else None
