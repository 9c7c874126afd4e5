"""Embedding backends behind one interface; see ``base.Embedder`` and ``registry.load_embedder``.

Importing this package is light: torch / transformers load only when a backend is first used.
"""

from jointspace.models.base import IMAGE, TEXT, BaseEmbedder, Embedder, l2_normalize
from jointspace.models.registry import (
    available_backends,
    canonical_model_name,
    clear_cache,
    load_embedder,
    register_backend,
)

DEFAULT_IMAGE_MODEL = "hf:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
DEFAULT_TEXT_MODEL = "sbert:all-MiniLM-L6-v2"

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_TEXT_MODEL",
    "IMAGE",
    "TEXT",
    "BaseEmbedder",
    "Embedder",
    "available_backends",
    "canonical_model_name",
    "clear_cache",
    "l2_normalize",
    "load_embedder",
    "register_backend",
]
