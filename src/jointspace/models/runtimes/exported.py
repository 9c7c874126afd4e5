"""An embedder made only of cached ONNX towers: no torch, no transformers on the text path.

Built from an export manifest (``cache.py``) when every tower runs in onnxruntime. Towers load on
first use, so a text query opens the text graph and the tokenizer and nothing else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jointspace.models.base import IMAGE, TEXT, BaseEmbedder
from jointspace.models.runtimes import ONNX_RUNTIMES
from jointspace.models.runtimes.cache import CacheEntry
from jointspace.models.runtimes.runners import OnnxRunner
from jointspace.models.runtimes.tokenizer import FastTokenizer, TokenizerSettings


class ExportedEmbedder(BaseEmbedder):
    """Embeds through cached ONNX graphs; ``runtimes`` says which runtime runs each tower."""

    def __init__(self, entry: CacheEntry, manifest: dict[str, Any],
                 runtimes: dict[str, str], batch_size: int = 32) -> None:
        self.entry, self.manifest = entry, manifest
        self.name = manifest["name"]
        self.dim = int(manifest["dim"])
        self.modalities = frozenset(runtimes)
        self.runtimes = dict(runtimes)
        self.batch_size = batch_size
        text = manifest.get(TEXT) or {}
        self.max_text_tokens = (text.get("tokenizer") or {}).get("max_length")
        self._runners: dict[str, OnnxRunner] = {}
        self._tokenizer: FastTokenizer | None = None
        self._preprocessor: Any = None

    def _runner(self, tower: str) -> OnnxRunner:
        if tower not in self._runners:
            runtime = self.runtimes[tower]
            path = self.entry.file(tower, runtime)
            if path is None:
                raise FileNotFoundError(f"the cached {tower} graph for {runtime} is gone")
            self._runners[tower] = OnnxRunner(path, runtime)
        return self._runners[tower]

    # --- images ---------------------------------------------------------------------------
    def image_preprocessor(self) -> Any:
        if IMAGE not in self.modalities:
            raise self._unsupported(IMAGE)
        if self._preprocessor is None:
            info = self.manifest.get(IMAGE) or {}
            if info.get("plan"):  # no transformers here nor in the decode workers
                from jointspace.models.fast_preprocess import FastPlan, PlanPreprocessor

                plan = FastPlan.from_dict(info["plan"])
                self._preprocessor = PlanPreprocessor(plan, info.get("input_size"))
            else:
                from jointspace.models.hf import load_image_preprocessor

                self._preprocessor = load_image_preprocessor(self.manifest["source"])
        return self._preprocessor

    def _embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        layout = self.image_preprocessor().layout
        arrays = layout.unpack(batch) if layout else {"pixel_values": batch}
        return self._runner(IMAGE)(arrays)

    # --- texts ----------------------------------------------------------------------------
    @property
    def tokenizer(self) -> FastTokenizer:
        if self._tokenizer is None:
            settings = TokenizerSettings.from_dict(self.manifest[TEXT]["tokenizer"])
            self._tokenizer = FastTokenizer(settings)
        return self._tokenizer

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        return self._runner(TEXT)(self.tokenizer(texts))

    def token_counts(self, texts: list[str]) -> list[int] | None:
        return self.tokenizer.token_counts(list(texts)) if TEXT in self.modalities else None


def light_runtimes(manifest: dict[str, Any] | None, requested: str,
                   cpu: str) -> dict[str, str] | None:
    """Per tower, the ONNX runtime a manifest lets a process use without torch, or None."""
    if not manifest or not manifest.get("modalities"):
        return None
    out = {}
    for tower in manifest["modalities"]:
        info = manifest.get(tower) or {}
        runtime = (info.get("auto", {}).get(cpu) or {}).get("runtime") if requested == "auto" \
            else requested
        if runtime not in ONNX_RUNTIMES or runtime not in info.get("files", {}):
            return None
        if tower == TEXT and not info.get("tokenizer"):
            return None  # the tokenizers library could not reproduce the model's tokenizer
        if tower == IMAGE and "input_size" not in info:
            return None  # written by an older jointspace: a full load completes the manifest
        out[tower] = runtime
    return out


def load_exported(entry: CacheEntry, requested: str, batch_size: int) -> ExportedEmbedder | None:
    """The torch-free embedder for ``requested`` if the cache holds all it needs, else None."""
    from jointspace.models.runtimes.cache import cpu_signature

    manifest = entry.manifest()
    runtimes = light_runtimes(manifest, requested, cpu_signature())
    if runtimes is None or any(entry.file(t, r) is None for t, r in runtimes.items()):
        return None
    return ExportedEmbedder(entry, manifest, runtimes, batch_size)
