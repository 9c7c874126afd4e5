"""The one embedding interface every backend implements.

Outputs are always float32, shape (n, dim), L2-normalised rows.

Image embedding is split in two so ingest can run the CPU-heavy half in worker processes:
``image_preprocessor()`` returns a picklable callable (PIL RGB image -> np.ndarray) that workers
apply right after decoding, and ``embed_preprocessed(batch)`` runs the model on a stacked batch.
``embed_images`` is simply both halves in one process.

Indexing also needs ``max_text_tokens`` and ``token_counts(texts)`` (to report how many texts the
tokenizer truncates; None when the model cannot tell) and reports ``runtimes`` (tower -> the
runtime running it, e.g. ``{"image": "onnx-int8"}``; empty for backends without runtimes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from jointspace.ingest.items import IMAGE, TEXT  # the two modalities, named once

if TYPE_CHECKING:
    from PIL import Image


ImagePreprocessor = Callable[["Image.Image"], np.ndarray]


@runtime_checkable
class Embedder(Protocol):
    """What the rest of jointspace needs from a model."""

    name: str  # the registry name it was loaded by, e.g. "hf:/models/clip"
    dim: int
    modalities: frozenset[str]  # subset of {"image", "text"}
    max_text_tokens: int | None  # texts longer than this many tokens are truncated
    runtimes: dict[str, str]  # tower -> runtime ("torch", "bf16", "onnx", "onnx-int8")

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def image_preprocessor(self) -> ImagePreprocessor:
        """A picklable PIL RGB image -> model input function, for decode workers."""
        ...

    def embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        """Embed a stack of ``image_preprocessor`` outputs."""
        ...

    def token_counts(self, texts: Sequence[str]) -> list[int] | None:
        """Tokens per text before truncation, or None when the model has no tokenizer to ask."""
        ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation to float32; all-zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class BaseEmbedder:
    """Shared batching and normalisation; subclasses implement the ``_embed_*`` hooks.

    Subclasses set ``name``, ``dim``, ``modalities`` and implement:
      - ``image_preprocessor()`` and ``_embed_preprocessed(batch)`` if they embed images;
      - ``_embed_text_batch(texts)`` if they embed texts.
    Hooks may return unnormalised arrays or torch tensors; the base normalises.
    """

    name: str
    dim: int
    modalities: frozenset[str] = frozenset()
    batch_size: int = 32
    max_text_tokens: int | None = None  # texts longer than this are truncated by the tokenizer
    runtimes: dict[str, str] = {}  # noqa: RUF012 - read-only default; backends set their own

    # --- images ---------------------------------------------------------------------------
    def image_preprocessor(self) -> ImagePreprocessor:
        raise self._unsupported(IMAGE)

    def _embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        raise self._unsupported(IMAGE)

    def embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        """Embed a stack of preprocessed images (the output of ``image_preprocessor``)."""
        if len(batch) == 0:
            return np.zeros((0, self.dim), np.float32)
        return l2_normalize(_to_numpy(self._embed_preprocessed(batch)))

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Embed RGB PIL images, batching internally."""
        if IMAGE not in self.modalities:
            raise self._unsupported(IMAGE)
        prep = self.image_preprocessor()
        out = [
            self.embed_preprocessed(np.stack([prep(im) for im in images[i : i + self.batch_size]]))
            for i in range(0, len(images), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, self.dim), np.float32)

    # --- texts ----------------------------------------------------------------------------
    def _embed_text_batch(self, texts: list[str]) -> np.ndarray:
        raise self._unsupported(TEXT)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Embed strings, batching internally. Over-long texts are truncated by the tokenizer."""
        if TEXT not in self.modalities:
            raise self._unsupported(TEXT)
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        # batch texts of similar length together: less padding to compute (as encode() does)
        order = np.argsort([len(t) for t in texts], kind="stable")
        ranked = [texts[i] for i in order]
        out = np.concatenate([
            l2_normalize(_to_numpy(self._embed_text_batch(ranked[i : i + self.batch_size])))
            for i in range(0, len(ranked), self.batch_size)
        ])
        result = np.empty_like(out)
        result[order] = out
        return result

    def token_counts(self, texts: Sequence[str]) -> list[int] | None:
        return None

    def _unsupported(self, modality: str) -> Exception:
        from jointspace.errors import BadInputError

        return BadInputError(
            f"model {self.name!r} cannot embed {modality}s (it handles: "
            f"{', '.join(sorted(self.modalities)) or 'nothing'})",
            hint="use a joint image-text model such as hf:<CLIP or SigLIP> for cross-modal search",
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)
