"""Putting a runtime under a loaded backend: the glue between backends and ``select.prepare``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jointspace.models.runtimes import ONNX_RUNTIMES, TORCH
from jointspace.models.runtimes.cache import CacheEntry
from jointspace.models.runtimes.export import TowerSpec
from jointspace.models.runtimes.exported import ExportedEmbedder, load_exported
from jointspace.models.runtimes.select import prepare, runner_for


def cached_embedder(model_dir: Path | None, kind: str, runtime: str,
                    batch_size: int) -> ExportedEmbedder | None:
    """The torch-free embedder when ``runtime`` resolves to cached ONNX towers only, else None."""
    if runtime == TORCH or model_dir is None:
        return None
    return load_exported(CacheEntry(model_dir, kind), runtime, batch_size)


def apply_runtime(embedder: Any, model_dir: Path, kind: str, runtime: str,
                  specs: list[TowerSpec], base: dict[str, Any]) -> Any:
    """Prepare ``runtime`` for ``specs`` and return the embedder that runs it.

    ``embedder`` must have ``runners`` ({tower: runner}) and ``runtimes`` ({tower: name}). When
    every tower ends up in ONNX and its tokenizer is reproducible without transformers, the
    torch-free ``ExportedEmbedder`` is returned (the one later processes load), else ``embedder``
    with its runners replaced.
    """
    entry = CacheEntry(model_dir, kind)
    chosen = prepare(entry, specs, runtime, base)
    light = load_exported(entry, runtime, embedder.batch_size)
    if light is not None and all(r in ONNX_RUNTIMES for r in chosen.values()):
        return light
    by_name = {s.name: s for s in specs}
    for tower, name in chosen.items():
        embedder.runners[tower] = runner_for(entry, by_name[tower], name)
        embedder.runtimes[tower] = name
    return embedder
