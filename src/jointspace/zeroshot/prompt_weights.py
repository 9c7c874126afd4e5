"""Prompt-template weights from unlabelled images (ZPE).

Follows Allingham et al., "A Simple Zero-shot Prompt Weighting Technique to Improve Prompt
Ensembling in Text-Image Models" (ICML 2023). A template that suits the images makes the model
confident on them, so each template ``p`` is scored by its normalised max logit

    s_p = mean_x max_c ( l_p(x, c) - mean_x' l_p(x', c) ),   l_p(x, c) = 100 cos(x, t_pc)

where subtracting the per-class mean removes the bias a template gives some class names whatever
the image (the paper subtracts a mean over pretraining-like images; offline we use the unlabelled
images themselves, the paper's variant without extra data). Templates are then weighted by
``softmax(s_p / temperature)`` and each class embedding is the normalised weighted sum of its
templates' unit text embeddings. No labels are used anywhere.
"""

from __future__ import annotations

import numpy as np

from jointspace.errors import BadInputError

LOGIT_SCALE = 100.0
DEFAULT_TEMPERATURE = 0.5  # tuned on a validation world; see docs/quality/prompt-weights.md
_CHUNK = 4096


def zpe_scores(images: np.ndarray, prompt_vectors: np.ndarray) -> np.ndarray:
    """Normalised max-logit score per template.

    ``images`` (n, d) and ``prompt_vectors`` (n_templates, n_classes, d) are unit vectors.
    """
    images = np.asarray(images, np.float32)
    prompts = np.asarray(prompt_vectors, np.float32)
    if prompts.ndim != 3 or images.ndim != 2 or prompts.shape[2] != images.shape[1]:
        raise BadInputError(f"prompt vectors {prompts.shape} and images {images.shape} do not "
                            "fit: need (templates, classes, dim) and (n, dim)")
    if len(images) == 0:
        raise BadInputError("prompt weighting needs unlabelled images", hint="pass some images")
    n_t, n_c, _ = prompts.shape
    flat = prompts.reshape(n_t * n_c, -1)
    class_sum = np.zeros(n_t * n_c, np.float64)
    for start in range(0, len(images), _CHUNK):  # pass 1: per-(template, class) mean logit
        class_sum += (images[start:start + _CHUNK] @ flat.T).sum(axis=0, dtype=np.float64)
    mean = (LOGIT_SCALE * class_sum / len(images)).reshape(n_t, n_c)
    max_sum = np.zeros(n_t, np.float64)
    for start in range(0, len(images), _CHUNK):  # pass 2: mean of the normalised max logit
        logits = LOGIT_SCALE * (images[start:start + _CHUNK] @ flat.T).reshape(-1, n_t, n_c)
        max_sum += (logits - mean[None].astype(np.float32)).max(axis=2).sum(axis=0)
    return max_sum / len(images)


def softmax_weights(scores: np.ndarray, temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """Template weights ``softmax(scores / temperature)``, summing to 1."""
    if temperature <= 0:
        raise BadInputError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(scores, np.float64) / temperature
    e = np.exp(z - z.max())
    return e / e.sum()


def weighted_class_vectors(prompt_vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Unit class embeddings: the normalised weighted sum of each class's template vectors."""
    summed = np.einsum("t,tcd->cd", np.asarray(weights, np.float64),
                       np.asarray(prompt_vectors, np.float64))
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    return (summed / np.maximum(norms, 1e-12)).astype(np.float32)


def zpe_weights(images: np.ndarray, prompt_vectors: np.ndarray,
                temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """ZPE template weights for these unlabelled images."""
    return softmax_weights(zpe_scores(images, prompt_vectors), temperature)
