"""Zero-shot classifiers: class embeddings from prompts, and classifying images with them.

A class embedding is the L2-normalised mean of the unit text embeddings of its prompts: every
template filled with the class name, plus any user descriptions of the class (CuPL-style,
"a platypus has a duck bill and webbed feet"), all weighted equally (as CuPL's combined setup).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jointspace.errors import BadInputError
from jointspace.models.base import Embedder, l2_normalize
from jointspace.zeroshot.metrics import softmax
from jointspace.zeroshot.templates import fill, resolve_templates

if TYPE_CHECKING:
    from PIL import Image

LOGIT_SCALE = 100.0  # CLIP's learned temperature saturates at 100; used for probabilities only


@dataclass
class ZeroShotClassifier:
    """Unit class embeddings (``weights``, shape (n_classes, dim)) and how they were made."""

    classes: list[str]
    weights: np.ndarray
    templates: tuple[str, ...]
    model: str
    n_descriptions: dict[str, int] = field(default_factory=dict)

    def scores(self, image_vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity of each image to each class, shape (n_images, n_classes)."""
        return np.asarray(image_vectors, np.float32) @ self.weights.T


@dataclass
class Prediction:
    """The classes for one image, best first, with softmax probabilities (temperature 100)."""

    label: str
    score: float  # cosine similarity of the best class
    top: list[tuple[str, float]]  # (class, probability), best first

    def to_dict(self) -> dict:
        return {"label": self.label, "score": self.score,
                "top": [{"label": c, "probability": p} for c, p in self.top]}


def prompt_name(label: str) -> str:
    """How a label reads in a prompt: underscores become spaces (``aquarium_fish``)."""
    return label.replace("_", " ").strip()


def build_classifier(
    embedder: Embedder,
    classes: Sequence[str],
    *,
    templates: str | Sequence[str] | None = "single",
    descriptions: Mapping[str, Sequence[str]] | None = None,
    names: Mapping[str, str] | None = None,
) -> ZeroShotClassifier:
    """Embed the prompts of every class and average them (see the module docstring).

    ``names`` maps a class label to the words used in prompts (default: :func:`prompt_name`).
    ``descriptions`` maps a class label to extra sentences about it.
    """
    classes = [str(c) for c in classes]
    if not classes:
        raise BadInputError("no classes to classify into", hint="pass labels, e.g. cat,dog")
    if len(set(classes)) != len(classes):
        raise BadInputError("class labels must be unique", hint="remove duplicate labels")
    tmpl = resolve_templates(templates)
    descriptions = dict(descriptions or {})
    unknown = sorted(set(descriptions) - set(classes))
    if unknown:
        raise BadInputError(
            f"descriptions given for unknown classes: {', '.join(unknown[:5])}",
            hint="description keys must be class labels exactly",
        )
    prompts: list[str] = []
    owner: list[int] = []
    for i, c in enumerate(classes):
        name = (names or {}).get(c) or prompt_name(c)
        for text in [fill(t, name) for t in tmpl] + [str(d) for d in descriptions.get(c, [])]:
            prompts.append(text)
            owner.append(i)
    vecs = embedder.embed_texts(prompts)
    sums = np.zeros((len(classes), vecs.shape[1]), np.float64)
    np.add.at(sums, np.asarray(owner), vecs)
    return ZeroShotClassifier(
        classes=classes,
        weights=l2_normalize(sums),  # normalising the sum = normalising the mean
        templates=tmpl,
        model=embedder.name,
        n_descriptions={c: len(v) for c, v in descriptions.items()},
    )


def load_descriptions(path: str | Path) -> dict[str, list[str]]:
    """Read CuPL-style descriptions: a JSON object ``{"class": ["sentence", ...], ...}``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(
            f"cannot read class descriptions {str(p)!r}: {exc}",
            hint='descriptions are JSON: {"cat": ["a cat has whiskers", ...], ...}',
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, list | str) for v in data.values()):
        raise BadInputError(
            f"{str(p)!r} must map each class to a list of sentences",
            hint='e.g. {"platypus": ["a platypus has a duck bill"]}',
        )
    return {str(k): [v] if isinstance(v, str) else [str(s) for s in v] for k, v in data.items()}


def predict_top(clf: ZeroShotClassifier, image_vectors: np.ndarray, k: int = 5) -> list[Prediction]:
    """Top-``k`` classes per image vector."""
    scores = clf.scores(image_vectors)
    probs = softmax(LOGIT_SCALE * scores, axis=1)
    k = max(1, min(k, len(clf.classes)))
    out = []
    for row in range(len(scores)):
        order = np.argsort(-scores[row], kind="stable")[:k]
        out.append(Prediction(
            label=clf.classes[order[0]], score=float(scores[row, order[0]]),
            top=[(clf.classes[j], float(probs[row, j])) for j in order],
        ))
    return out


def classify(
    images: Sequence[Image.Image | str | Path],
    labels: Sequence[str] | ZeroShotClassifier,
    embedder: Embedder,
    *,
    templates: str | Sequence[str] | None = "single",
    descriptions: Mapping[str, Sequence[str]] | None = None,
    k: int = 5,
) -> list[Prediction]:
    """Classify images (PIL images or paths) into ``labels`` by zero-shot prompting."""
    from PIL import Image as PILImage

    from jointspace.ingest.decode import load_image

    clf = labels if isinstance(labels, ZeroShotClassifier) else build_classifier(
        embedder, labels, templates=templates, descriptions=descriptions)
    pil = [im if isinstance(im, PILImage.Image) else load_image(Path(im)) for im in images]
    return predict_top(clf, embedder.embed_images(pil), k)
