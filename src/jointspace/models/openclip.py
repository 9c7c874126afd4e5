"""``openclip:<arch>/<pretrained>`` — open_clip models (optional extra ``jointspace[openclip]``).

Examples: ``openclip:ViT-B-32/laion2b_s34b_b79k``, ``openclip:hf-hub:timm/ViT-B-16-SigLIP``,
``openclip:ViT-B-32/random`` (untrained weights, for plumbing tests only). Weights come from the
open_clip cache; offline and not cached raises ModelUnavailableError.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from jointspace.errors import BadInputError, ModelUnavailableError
from jointspace.models._hub import default_device
from jointspace.models.base import IMAGE, TEXT, BaseEmbedder

INSTALL_HINT = (
    "pip install 'jointspace[openclip]' -c constraints.txt, where constraints.txt pins the torch "
    "you have (e.g. torch==2.13.0) so the torchvision it pulls in does not replace your torch build"
)
_UNTRAINED = "random"


class OpenClipPreprocessor:
    """Picklable: RGB PIL image -> float32 CHW array, via open_clip's validation transform."""

    def __init__(self, transform: Any, input_size: int) -> None:
        self.transform = transform
        self.input_size = input_size  # shorter side the transform resizes to

    def __call__(self, image: Any) -> np.ndarray:
        return self.transform(image).numpy().astype(np.float32, copy=False)


class OpenClipEmbedder(BaseEmbedder):
    """An open_clip model; embeds images and texts."""

    modalities = frozenset({IMAGE, TEXT})

    def __init__(self, name: str, model: Any, transform: Any, tokenizer: Any, device: str) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        size = model.visual.image_size
        self._preprocessor = OpenClipPreprocessor(
            transform, int(min(size) if isinstance(size, tuple) else size)
        )
        self.max_text_tokens = getattr(tokenizer, "context_length", None)
        self.dim = int(self._embed_text_batch(["a"]).shape[-1])

    def image_preprocessor(self) -> OpenClipPreprocessor:
        return self._preprocessor

    def _embed_preprocessed(self, batch: np.ndarray) -> Any:
        import torch

        pixels = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        with torch.inference_mode():
            return self.model.encode_image(pixels)

    def _embed_text_batch(self, texts: list[str]) -> Any:
        import torch

        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode():
            return self.model.encode_text(tokens)


def parse_openclip_spec(spec: str) -> tuple[str, str | None]:
    """``"ViT-B-32/laion2b_s34b_b79k"`` -> (arch, tag); ``hf-hub:``/``local-dir:`` names pass whole."""
    if spec.startswith(("hf-hub:", "local-dir:")):
        return spec, None
    arch, _, tag = spec.partition("/")
    if not arch or not tag:
        raise BadInputError(
            f"invalid open_clip model {('openclip:' + spec)!r}",
            hint="use openclip:<arch>/<pretrained tag>, e.g. openclip:ViT-B-32/laion2b_s34b_b79k "
            "(open_clip.list_pretrained() lists them), or openclip:hf-hub:<org>/<repo>",
        )
    return arch, (None if tag == _UNTRAINED else tag)


def require_open_clip() -> Any:
    """Import open_clip or raise ModelUnavailableError with the install hint."""
    if importlib.util.find_spec("open_clip") is None:
        raise ModelUnavailableError(
            "the openclip: backend needs the optional open_clip package, which is not installed",
            hint=INSTALL_HINT,
        )
    import open_clip

    return open_clip


def load_openclip(
    spec: str, *, device: str | None = None, batch_size: int = 32
) -> OpenClipEmbedder:
    """Registry factory for ``openclip:<arch>/<pretrained>``."""
    arch, tag = parse_openclip_spec(spec)
    open_clip = require_open_clip()
    device = device or default_device()
    try:
        model, _, transform = open_clip.create_model_and_transforms(
            arch, pretrained=tag, device=device
        )
        tokenizer = open_clip.get_tokenizer(arch)
    except OSError as exc:  # hub download refused (offline) or missing file
        raise ModelUnavailableError(
            f"weights for {('openclip:' + spec)!r} are not cached and cannot be downloaded: {exc}",
            hint='where there is internet run once: python -c "import open_clip; '
            f"open_clip.create_model_and_transforms('{arch}', pretrained='{tag}')\" and copy "
            "~/.cache/huggingface here, or use openclip:local-dir:/path/to/dir",
        ) from exc
    except RuntimeError as exc:  # unknown architecture or pretrained tag
        raise ModelUnavailableError(
            f"open_clip cannot create {('openclip:' + spec)!r}: {exc}",
            hint="open_clip.list_pretrained() lists the valid <arch>/<pretrained> pairs",
        ) from exc
    model.eval()
    embedder = OpenClipEmbedder(f"openclip:{spec}", model, transform, tokenizer, device)
    embedder.batch_size = batch_size
    return embedder
