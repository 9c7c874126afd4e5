"""``hf:<hub id | local dir>`` — any transformers model with ``get_image_features`` and/or
``get_text_features`` (CLIP, SigLIP, SigLIP 2, custom models registered with AutoModel).

The model, image processor and tokenizer load separately: a model without a tokenizer embeds
images only, one without an image processor texts only. Nothing is downloaded when
``HF_HUB_OFFLINE=1``; a hub id that is not cached raises ModelUnavailableError with a hint.

``runtime=`` runs each tower eagerly (``torch``, ``bf16``) or through a cached ONNX export
(``onnx``, ``onnx-int8``, or ``auto``'s pick); see ``jointspace.models.runtimes``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

from jointspace.errors import BadInputError, ModelUnavailableError
from jointspace.models._hub import default_device, local_model_dir, quiet_loading, unavailable
from jointspace.models.base import IMAGE, TEXT, BaseEmbedder
from jointspace.models.hf_inputs import HFImagePreprocessor, text_inputs, text_kwargs
from jointspace.models.runtimes import TORCH, check_runtime
from jointspace.models.runtimes.runners import TorchRunner

log = logging.getLogger(__name__)
_DTYPES = (None, "float32", "float16", "bfloat16")


class HFEmbedder(BaseEmbedder):
    """A transformers dual encoder. Build with :func:`load_hf`."""

    def __init__(
        self,
        name: str,
        model: Any,
        processor: Any | None,
        tokenizer: Any | None,
        device: str,
    ) -> None:
        self.name = name
        self.model = model
        self.device = device
        self.model_type = getattr(model.config, "model_type", "")
        mods = set()
        self._preprocessor = None
        if processor is not None and hasattr(model, "get_image_features"):
            self._preprocessor = HFImagePreprocessor(processor).with_layout_probed()
            mods.add(IMAGE)
        self.tokenizer = tokenizer if hasattr(model, "get_text_features") else None
        if self.tokenizer is not None:
            self._text_kwargs, self.max_text_tokens = text_kwargs(
                self.model_type, self.tokenizer, model.config
            )
            mods.add(TEXT)
        self.modalities = frozenset(mods)
        float_dtype = getattr(model, "dtype", None)
        self.runners = {IMAGE: TorchRunner(model.get_image_features, device=device,
                                           float_dtype=float_dtype),
                        TEXT: TorchRunner(model.get_text_features, device=device)}
        self.runtimes = {m: TORCH for m in self.modalities}  # tower -> runtime running it
        self.dim = self._probe_dim()

    # --- images ---------------------------------------------------------------------------
    def image_preprocessor(self) -> HFImagePreprocessor:
        if self._preprocessor is None:
            raise self._unsupported(IMAGE)
        return self._preprocessor

    def _embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        layout = self.image_preprocessor().layout
        arrays = layout.unpack(batch) if layout else {"pixel_values": batch}
        return self.runners[IMAGE](arrays)

    # --- texts ----------------------------------------------------------------------------
    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        return self.runners[TEXT](text_inputs(self.tokenizer, texts, self._text_kwargs))

    def token_counts(self, texts: list[str]) -> list[int] | None:
        if self.tokenizer is None:
            return None
        ids = self.tokenizer(list(texts), add_special_tokens=True, truncation=False,
                             verbose=False)["input_ids"]
        return [len(x) for x in ids]

    def _probe_dim(self) -> int:
        """Embedding size, measured by embedding one dummy input per modality."""
        from PIL import Image

        dims = {}
        if IMAGE in self.modalities:
            dims[IMAGE] = self._embed_preprocessed(
                np.stack([self._preprocessor(Image.new("RGB", (32, 32)))])
            ).shape[-1]
        if TEXT in self.modalities:
            dims[TEXT] = self._embed_text_batch(["a"]).shape[-1]
        if len(set(dims.values())) != 1:
            raise ModelUnavailableError(
                f"model {self.name!r} embeds nothing usable (embedding sizes: {dims or 'none'})",
                hint="use a joint image-text model (CLIP, SigLIP) whose image and text "
                "embeddings share one space, or a text model via sbert:",
            )
        return int(next(iter(dims.values())))


def _load_part(loader: Any, source: str, what: str, **kwargs: Any) -> Any | None:
    try:
        part = loader.from_pretrained(source, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("no %s for %s (%s); that modality is disabled", what, source, exc)
        return None
    if what == "tokenizer" and not _has_vocabulary(part):
        log.info("no tokenizer files for %s; texts are disabled", source)
        return None
    return part


def _has_vocabulary(tokenizer: Any) -> bool:
    # transformers 5 builds a tokenizer from the model type alone when its files are missing;
    # such a tokenizer knows only its special tokens and would map every text to padding.
    return len(tokenizer) > len(set(tokenizer.all_special_tokens))


def load_image_preprocessor(source: str) -> HFImagePreprocessor:
    """The picklable image preprocessor of a model directory (no model load)."""
    from transformers import AutoImageProcessor

    processor = _load_part(AutoImageProcessor, source, "image processor")
    if processor is None:
        raise ModelUnavailableError(f"no image processor in {source!r}")
    return HFImagePreprocessor(processor).with_layout_probed()


def load_hf(
    spec: str,
    *,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int = 32,
    trust_remote_code: bool = False,
    runtime: str | None = None,
) -> BaseEmbedder:
    """Registry factory for ``hf:<hub id | dir>``.

    ``device`` defaults to cuda when available, else cpu; ``dtype`` (e.g. ``"float16"``) defaults
    to the float32 weights. ``trust_remote_code`` runs the repository's own modelling code.
    ``runtime`` (default ``torch``): see ``jointspace.models.runtimes``; a cached ONNX choice
    loads without importing torch or transformers.
    """
    from jointspace.models.runtimes.apply import cached_embedder

    runtime = check_runtime(runtime)
    model_dir = local_model_dir(spec) if runtime != TORCH else None
    light = cached_embedder(model_dir, "hf", runtime, batch_size)
    if light is not None:
        return light
    embedder = _load_eager(spec, device=device, dtype=dtype, batch_size=batch_size,
                           trust_remote_code=trust_remote_code)
    if runtime == TORCH:
        return embedder
    from jointspace.models.runtimes.apply import apply_runtime
    from jointspace.models.runtimes.hf_specs import hf_base, hf_specs

    model_dir = model_dir or local_model_dir(spec)
    if model_dir is None or embedder.device != "cpu" or dtype not in (None, "float32"):
        raise BadInputError(f"runtime {runtime!r} needs a float32 model on the CPU from a local "
                            f"directory or the hub cache ({('hf:' + spec)!r})",
                            hint="use --runtime torch here")
    return apply_runtime(embedder, model_dir, "hf", runtime, hf_specs(embedder),
                         hf_base(embedder, model_dir))


def _load_eager(
    spec: str, *, device: str | None, dtype: str | None, batch_size: int, trust_remote_code: bool
) -> HFEmbedder:
    import torch
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    from jointspace.models.dual_encoder import register

    register()  # checkpoints of `jointspace train` load as hf:DIR in every process
    if dtype not in _DTYPES:
        raise BadInputError(
            f"unsupported dtype {dtype!r} for {('hf:' + spec)!r}",
            hint="use one of: " + ", ".join(d for d in _DTYPES if d),
        )
    source = os.path.expanduser(spec)
    device = device or default_device()
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    try:
        with quiet_loading():
            model = AutoModel.from_pretrained(
                source, **kwargs, **({"dtype": getattr(torch, dtype)} if dtype else {})
            )
    except (OSError, ValueError) as exc:
        raise unavailable("hf", spec, exc) from exc
    model = model.to(device).eval()
    processor = _load_part(AutoImageProcessor, source, "image processor", **kwargs)
    tokenizer = _load_part(AutoTokenizer, source, "tokenizer", **kwargs)
    embedder = HFEmbedder(f"hf:{spec}", model, processor, tokenizer, device)
    embedder.batch_size = batch_size
    return embedder
