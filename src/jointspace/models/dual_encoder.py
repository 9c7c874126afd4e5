"""jointspace's own dual encoder: a small image tower + any transformers text model.

A transformers ``PreTrainedModel`` registered with ``AutoConfig``/``AutoModel`` under
``model_type = "jointspace_dual_encoder"`` (call :func:`register` once, before
``AutoModel.from_pretrained``). A saved directory also holds a ``CLIPImageProcessor`` sized for the
tower and the text tokenizer, so ``hf:DIR`` works everywhere in jointspace.

- image tower: ``"cnn"`` (strided convolutions, GroupNorm, position-aware flatten head) or ``"vit"``
  (a tiny pre-norm transformer over patches). Neither depends on the batch, so training on N
  processes equals training on one.
- text tower: any ``AutoModel`` (e.g. all-MiniLM-L6-v2), mean-pooled over the attention mask like
  sentence-transformers, optionally L2-normalised, then a linear or MLP head.
- ``logit_scale`` (CLIP temperature) and ``logit_bias`` (SigLIP) are learnable scalars.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel

MODEL_TYPE = "jointspace_dual_encoder"


class DualEncoderConfig(PretrainedConfig):
    model_type = MODEL_TYPE

    def __init__(
        self,
        text_config: dict | PretrainedConfig | None = None,  # the text tower's own config
        image_tower: str = "cnn",  # "cnn" or "vit"
        image_size: int = 64,  # square input side in pixels
        cnn_widths: list[int] | tuple[int, ...] = (32, 64, 128, 256),  # channels per stage
        cnn_strides: list[int] | tuple[int, ...] | None = None,  # per stage; None = all 2
        cnn_kernels: list[int] | tuple[int, ...] | None = None,  # per stage; None = all 3
        cnn_activation: str = "gelu",  # "gelu" or "relu" (faster on CPU)
        cnn_pos_channels: int = 32,  # channels of the where-is-what map flattened into the head
        cnn_pool_stages: int = 1,  # last stages whose mean+max pools feed the head (1: the last)
        vit_patch: int = 8,  # ViT patch side in pixels
        vit_width: int = 192,  # ViT token width
        vit_depth: int = 4,  # ViT blocks
        vit_heads: int = 3,  # ViT attention heads
        image_hidden: int = 512,  # width of the image tower's pooled output
        projection_dim: int = 256,  # joint embedding size
        text_pooling: str = "mean",  # "mean" over the attention mask, or "cls"
        text_normalize: bool = True,  # L2-normalise the pooled text vector before the head
        text_head: str = "linear",  # "linear" or "mlp" (Linear-GELU-Linear)
        logit_scale_init: float = math.log(1 / 0.07),  # CLIP init; SigLIP uses log(10)
        logit_bias_init: float = -10.0,  # SigLIP init; unused by the CLIP loss
        **kwargs: Any,
    ) -> None:
        if isinstance(text_config, dict):
            text_config = dict(text_config)
            text_config = AutoConfig.for_model(text_config.pop("model_type", "bert"), **text_config)
        self.text_config = text_config if text_config is not None else AutoConfig.for_model("bert")
        self.image_tower = image_tower
        self.image_size = image_size
        self.cnn_widths = list(cnn_widths)
        self.cnn_strides = list(cnn_strides) if cnn_strides else [2] * len(self.cnn_widths)
        self.cnn_kernels = list(cnn_kernels) if cnn_kernels else [3] * len(self.cnn_widths)
        self.cnn_activation = cnn_activation
        self.cnn_pos_channels = cnn_pos_channels
        self.cnn_pool_stages = cnn_pool_stages
        self.vit_patch, self.vit_width, self.vit_depth, self.vit_heads = (
            vit_patch, vit_width, vit_depth, vit_heads)
        self.image_hidden = image_hidden
        self.projection_dim = projection_dim
        self.text_pooling = text_pooling
        self.text_normalize = text_normalize
        self.text_head = text_head
        self.logit_scale_init = logit_scale_init
        self.logit_bias_init = logit_bias_init
        super().__init__(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if isinstance(self.text_config, PretrainedConfig):
            out["text_config"] = self.text_config.to_dict()
            out["text_config"].pop("transformers_version", None)
        return out


class ConvTower(nn.Module):
    """Strided convolutions + GroupNorm + activation, then a head that sees both *what* and *where*.

    The head reads global average- and max-pooled features (what is in the picture: shared by all
    positions, so a shape detector is learnt once, not once per location) next to a small
    flattened map (``cnn_pos_channels`` per cell: where things are, for "left of" / "at the top").
    """

    def __init__(self, config: DualEncoderConfig) -> None:
        super().__init__()
        act = {"gelu": nn.GELU, "relu": nn.ReLU}[config.cnn_activation]
        layers, cin, side = [], 3, config.image_size
        for width, stride, k in zip(config.cnn_widths, config.cnn_strides, config.cnn_kernels,
                                    strict=True):
            # no conv bias: the GroupNorm right after it would cancel it
            layers += [nn.Conv2d(cin, width, k, stride=stride, padding=k // 2, bias=False),
                       nn.GroupNorm(8, width), act()]
            cin, side = width, (side + stride - 1) // stride
        self.body = nn.Sequential(*layers)
        n_stages = len(config.cnn_widths)
        pooled = range(n_stages - max(1, min(config.cnn_pool_stages, n_stages)), n_stages)
        # the head reads the pools after these body layers (three a stage: conv, norm, activation)
        self.pool_after = frozenset(3 * stage + 2 for stage in pooled)
        pos = config.cnn_pos_channels
        self.where = nn.Conv2d(cin, pos, 1) if pos else None
        pooled_width = sum(2 * config.cnn_widths[i] for i in pooled)
        self.head = nn.Sequential(nn.Linear(pooled_width + pos * side * side, config.image_hidden),
                                  act())

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        # channels-last convolutions run 1.5-2x faster on CPU
        x = pixels.contiguous(memory_format=torch.channels_last)
        parts = []
        for i, layer in enumerate(self.body):
            x = layer(x)  # (n, c, s, s)
            if i in self.pool_after:  # earlier stages: small shapes, finer scale
                parts += [x.mean((2, 3)), x.amax((2, 3))]  # (n, c) each
        if self.where is not None:
            parts.append(self.where(x).contiguous().flatten(1))  # (n, pos * s * s)
        return self.head(torch.cat(parts, 1))  # (n, image_hidden)


class ViTTower(nn.Module):
    """A tiny pre-norm ViT: patch embedding, learned positions, mean-pooled tokens."""

    def __init__(self, config: DualEncoderConfig) -> None:
        super().__init__()
        p, w = config.vit_patch, config.vit_width
        self.patch = nn.Conv2d(3, w, p, stride=p)
        n_tokens = (config.image_size // p) ** 2
        self.pos = nn.Parameter(torch.zeros(1, n_tokens, w))
        block = nn.TransformerEncoderLayer(w, config.vit_heads, 4 * w, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, config.vit_depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, config.image_hidden)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(pixels).flatten(2).transpose(1, 2) + self.pos  # (n, tokens, w)
        return self.head(self.norm(self.blocks(tokens)).mean(1))  # (n, image_hidden)


_TOWERS = {"cnn": ConvTower, "vit": ViTTower}


class DualEncoderModel(PreTrainedModel):
    config_class = DualEncoderConfig
    base_model_prefix = "jointspace_dual_encoder"
    main_input_name = "pixel_values"

    def __init__(self, config: DualEncoderConfig, text_model: nn.Module | None = None) -> None:
        super().__init__(config)
        if config.image_tower not in _TOWERS:
            raise ValueError(f"image_tower must be one of {sorted(_TOWERS)}, not {config.image_tower!r}")
        self.vision_model = _TOWERS[config.image_tower](config)
        self.visual_projection = nn.Linear(config.image_hidden, config.projection_dim)
        self.text_model = text_model if text_model is not None else AutoModel.from_config(
            config.text_config)
        width = config.text_config.hidden_size
        self.text_projection = (
            nn.Linear(width, config.projection_dim) if config.text_head == "linear"
            else nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(),
                               nn.Linear(2 * width, config.projection_dim))
        )
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init)))
        self.logit_bias = nn.Parameter(torch.tensor(float(config.logit_bias_init)))
        self.post_init()

    @classmethod
    def from_text_pretrained(cls, text_dir: str, **config_kwargs: Any) -> DualEncoderModel:
        """A new model whose text tower is loaded from ``text_dir`` (image tower random)."""
        text_model = AutoModel.from_pretrained(text_dir)
        config = DualEncoderConfig(text_config=text_model.config.to_dict(), **config_kwargs)
        return cls(config, text_model=text_model)

    def _init_weights(self, module: nn.Module) -> None:
        if module is self:
            nn.init.constant_(self.logit_scale, float(self.config.logit_scale_init))
            nn.init.constant_(self.logit_bias, float(self.config.logit_bias_init))
        elif isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02) if isinstance(module, nn.Linear) else (
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu"))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.GroupNorm, nn.LayerNorm)):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, ViTTower):
            nn.init.trunc_normal_(module.pos, std=0.02)

    def get_image_features(self, pixel_values: torch.Tensor, **_: Any) -> torch.Tensor:
        """Projected, unnormalised image embeddings, shape (n, projection_dim)."""
        pixel_values = pixel_values.to(self.visual_projection.weight.dtype)
        return self.visual_projection(self.vision_model(pixel_values))

    def pooled_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                    token_type_ids: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        """The text tower's pooled (and optionally normalised) vector, before the head."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.text_model(input_ids=input_ids, attention_mask=attention_mask,
                                 **kwargs).last_hidden_state  # (n, tokens, width)
        if self.config.text_pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (n, tokens, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (n, width)
        return nn.functional.normalize(pooled, dim=-1) if self.config.text_normalize else pooled

    def project_text(self, pooled: torch.Tensor) -> torch.Tensor:
        """The text head alone: pooled vectors (cached when the tower is locked) -> embeddings."""
        return self.text_projection(pooled)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                          token_type_ids: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        """Projected, unnormalised text embeddings, shape (n, projection_dim)."""
        return self.project_text(self.pooled_text(input_ids, attention_mask, token_type_ids, **kwargs))

    def forward(self, input_ids: torch.Tensor | None = None, pixel_values: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, **kwargs: Any) -> dict[str, torch.Tensor]:
        """Normalised embeddings for whichever inputs are given, and their scaled similarities."""
        out: dict[str, torch.Tensor] = {}
        if pixel_values is not None:
            out["image_embeds"] = nn.functional.normalize(self.get_image_features(pixel_values), dim=-1)
        if input_ids is not None:
            out["text_embeds"] = nn.functional.normalize(
                self.get_text_features(input_ids, attention_mask, **kwargs), dim=-1)
        if len(out) == 2:
            out["logits_per_image"] = (out["image_embeds"] @ out["text_embeds"].T
                                       * self.logit_scale.exp() + self.logit_bias)
        return out


def register() -> None:
    """Make AutoConfig/AutoModel know ``jointspace_dual_encoder`` (safe to call repeatedly)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if MODEL_TYPE not in CONFIG_MAPPING:
        AutoConfig.register(MODEL_TYPE, DualEncoderConfig)
    try:
        AutoModel.register(DualEncoderConfig, DualEncoderModel)
    except ValueError:  # already registered
        pass


def save_checkpoint(model: DualEncoderModel, out_dir: str, tokenizer: Any) -> None:
    """Write model, a CLIPImageProcessor sized for the tower, and the tokenizer to ``out_dir``."""
    model.save_pretrained(out_dir)
    image_processor(model.config.image_size).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def image_processor(size: int) -> Any:
    """The processor the towers are trained with: resize + centre-crop to ``size``, [-1, 1] pixels."""
    import importlib.util

    # the PIL backend is the only one without torchvision (the torchvision one warns and falls
    # back to it); with torchvision both give the same pixels for this resize + crop
    if importlib.util.find_spec("torchvision") is None:
        from transformers import CLIPImageProcessorPil as Processor
    else:
        from transformers import CLIPImageProcessor as Processor

    return Processor(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size},
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
