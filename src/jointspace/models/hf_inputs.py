"""Turning PIL images and strings into the exact inputs a transformers model expects.

``HFImagePreprocessor`` is the picklable half that ingest runs in decode workers. Most processors
return only ``pixel_values``; some (SigLIP 2 NaFlex) also return ``pixel_attention_mask`` and
``spatial_shapes``. The base protocol moves one float32 array per image, so several inputs are
packed into one flat vector by a fixed ``InputLayout`` and unpacked before the model runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

# SigLIP / SigLIP 2 were trained on texts padded to exactly 64 tokens; shorter padding changes
# the embeddings.
FIXED_LENGTH_TEXT_MODELS = {"siglip": 64, "siglip2": 64}
_TEXT_INPUTS = ("input_ids", "attention_mask", "position_ids")
_UNBOUNDED = 10**6  # tokenizers without a limit report model_max_length ~1e30


@dataclass(frozen=True)
class InputField:
    """One model input inside a packed per-image vector."""

    key: str  # keyword argument of get_image_features
    shape: tuple[int, ...]  # per-image shape
    dtype: str  # numpy dtype name to restore


@dataclass(frozen=True)
class InputLayout:
    """How several per-image arrays are packed into one float32 vector (None: pixel_values only)."""

    fields: tuple[InputField, ...]

    def pack(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        return np.concatenate(
            [np.asarray(arrays[f.key], dtype=np.float32).reshape(-1) for f in self.fields]
        )

    def unpack(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        out, start = {}, 0
        for f in self.fields:
            size = int(np.prod(f.shape))
            part = batch[:, start : start + size].reshape(len(batch), *f.shape)
            out[f.key] = part.astype(f.dtype)
            start += size
        return out


class HFImagePreprocessor:
    """Picklable: RGB PIL image -> the model's preprocessed input (exactly the processor's output)."""

    def __init__(self, processor: Any, layout: InputLayout | None = None,
                 fast: Any = None) -> None:
        self.processor = processor
        self.layout = layout
        self.fast = fast  # a checked FastPlan doing the processor's work quicker, or None
        # Smallest shorter side an input can have without the processor upscaling it; ingest
        # passes it to load_image(draft_size=...) for reduced JPEG decoding.
        self.input_size = processor_input_size(processor)

    def _process(self, image: Image.Image) -> dict[str, np.ndarray]:
        if self.fast is not None:
            return {"pixel_values": self.fast(image)}
        out = self.processor(images=image, return_tensors="np")
        return {k: np.asarray(v)[0] for k, v in out.items()}

    def __call__(self, image: Image.Image) -> np.ndarray:
        arrays = self._process(image)
        if self.layout is None:
            return arrays["pixel_values"]
        return self.layout.pack(arrays)

    def with_layout_probed(self) -> HFImagePreprocessor:
        """Return a preprocessor that packs inputs when the processor yields more than pixels."""
        from PIL import Image

        from jointspace.models.fast_preprocess import fast_plan

        arrays = self._process(Image.new("RGB", (64, 48), (127, 127, 127)))
        if set(arrays) == {"pixel_values"}:
            return HFImagePreprocessor(self.processor, fast=fast_plan(self.processor))
        fields = tuple(
            InputField(key, tuple(a.shape), a.dtype.name) for key, a in sorted(arrays.items())
        )
        return HFImagePreprocessor(self.processor, InputLayout(fields))


def processor_input_size(processor: Any) -> int | None:
    """The largest side the processor resizes to (None when it cannot be told)."""
    sides = []
    for attr in ("size", "crop_size"):
        value = getattr(processor, attr, None)
        if isinstance(value, dict):
            sides += [
                v for k, v in value.items() if k in ("shortest_edge", "height", "width") and v
            ]
        elif hasattr(value, "__dict__"):  # transformers 5 SizeDict
            sides += [getattr(value, k, None) for k in ("shortest_edge", "height", "width")]
        elif isinstance(value, int):
            sides.append(value)
    patch, patches = (
        getattr(processor, "patch_size", None),
        getattr(processor, "max_num_patches", None),
    )
    if patch and patches:  # NaFlex: variable aspect, about patches * patch**2 pixels
        sides.append(int(patch * np.ceil(np.sqrt(patches))))
    sides = [int(s) for s in sides if s]
    return max(sides) if sides else None


def text_kwargs(model_type: str, tokenizer: Any, config: Any) -> tuple[dict[str, Any], int | None]:
    """Tokenizer call options for a model, and the token limit texts are truncated to."""
    if model_type in FIXED_LENGTH_TEXT_MODELS:
        n = FIXED_LENGTH_TEXT_MODELS[model_type]
        return {"padding": "max_length", "max_length": n, "truncation": True}, n
    limits = [int(tokenizer.model_max_length or _UNBOUNDED)]
    text_config = getattr(config, "text_config", config)
    if getattr(text_config, "max_position_embeddings", None):
        limits.append(int(text_config.max_position_embeddings))
    limit = min(limits)
    if limit >= _UNBOUNDED:
        return {"padding": True}, None
    return {"padding": True, "truncation": True, "max_length": limit}, limit


def text_inputs(tokenizer: Any, texts: list[str], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Tokenise to torch tensors, keeping only what ``get_text_features`` accepts."""
    enc = tokenizer(texts, return_tensors="pt", **kwargs)
    return {k: v for k, v in enc.items() if k in _TEXT_INPUTS}


def features_tensor(output: Any) -> Any:
    """The embedding tensor from ``get_*_features``: a tensor (transformers 4) or an output whose
    ``pooler_output`` holds the projected embedding (transformers 5)."""
    if hasattr(output, "detach"):
        return output
    pooled = getattr(output, "pooler_output", None)
    if pooled is None:
        raise TypeError(f"get_*_features returned {type(output).__name__} without pooler_output")
    return pooled
