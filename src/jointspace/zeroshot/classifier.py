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
from typing import TYPE_CHECKING, Any

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
    # per-template unit class vectors (templates, classes, dim), kept for prompt weighting
    prompt_vectors: np.ndarray | None = None
    template_weights: np.ndarray | None = None  # set by weight_prompts; None = equal weights

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
    keep_prompts: bool = False,
) -> ZeroShotClassifier:
    """Embed the prompts of every class and average them (see the module docstring).

    ``names`` maps a class label to the words used in prompts (default: :func:`prompt_name`).
    ``descriptions`` maps a class label to extra sentences about it. ``keep_prompts`` keeps the
    per-template vectors that :func:`weight_prompts` needs.
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
    per_template = None
    if keep_prompts and not descriptions:  # prompts are class-major: class i, template t
        per_template = vecs.reshape(len(classes), len(tmpl), -1).transpose(1, 0, 2).copy()
    return ZeroShotClassifier(
        classes=classes,
        weights=l2_normalize(sums),  # normalising the sum = normalising the mean
        templates=tmpl,
        model=embedder.name,
        n_descriptions={c: len(v) for c, v in descriptions.items()},
        prompt_vectors=per_template,
    )


def weight_prompts(clf: ZeroShotClassifier, images: np.ndarray, method: str = "zpe",
                   temperature: float | None = None) -> ZeroShotClassifier:
    """A copy of ``clf`` whose class vectors weight the templates by ``method`` (``zpe``:
    scored on the unlabelled ``images``; ``equal``: unchanged)."""
    from dataclasses import replace

    from jointspace.zeroshot import prompt_weights as pw

    if method == "equal":
        return clf
    if method != "zpe":
        raise BadInputError(f"unknown prompt weighting {method!r}", hint="use zpe or equal")
    if clf.prompt_vectors is None:
        raise BadInputError(
            "prompt weighting needs per-template vectors and no class descriptions",
            hint="build the classifier with keep_prompts=True and without descriptions")
    weights = pw.zpe_weights(images, clf.prompt_vectors,
                             pw.DEFAULT_TEMPERATURE if temperature is None else temperature)
    return replace(clf, weights=pw.weighted_class_vectors(clf.prompt_vectors, weights),
                   template_weights=weights)


def template_weight_table(clf: ZeroShotClassifier) -> list[dict]:
    """``[{"template", "weight"}]`` heaviest first (equal weights when none were computed)."""
    n = len(clf.templates)
    w = clf.template_weights if clf.template_weights is not None else np.full(n, 1.0 / n)
    order = np.argsort(-w, kind="stable")
    return [{"template": clf.templates[i], "weight": round(float(w[i]), 6)} for i in order]


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
    return predictions_from_scores(clf.classes, clf.scores(image_vectors), k)


def classify(
    images: Sequence[Image.Image | str | Path],
    labels: Sequence[str] | ZeroShotClassifier,
    embedder: Embedder,
    *,
    templates: str | Sequence[str] | None = "single",
    descriptions: Mapping[str, Sequence[str]] | None = None,
    k: int = 5,
    prompt_weights: str | None = None,
    transductive: Any = None,
) -> list[Prediction]:
    """Classify images (PIL images or paths) into ``labels`` by zero-shot prompting.

    ``prompt_weights="zpe"`` weights the templates by these images' score statistics (at least
    two images); ``transductive`` (True or ``PropagationSettings``) labels them together by
    propagation. :func:`classify_set` also returns the classifier used (its ZPE weights).
    """
    return classify_set(images, labels, embedder, templates=templates, descriptions=descriptions,
                        k=k, prompt_weights=prompt_weights, transductive=transductive)[0]


def classify_set(
    images: Sequence[Image.Image | str | Path],
    labels: Sequence[str] | ZeroShotClassifier,
    embedder: Embedder,
    *,
    templates: str | Sequence[str] | None = "single",
    descriptions: Mapping[str, Sequence[str]] | None = None,
    k: int = 5,
    prompt_weights: str | None = None,
    transductive: Any = None,
) -> tuple[list[Prediction], ZeroShotClassifier]:
    """:func:`classify`, plus the classifier as used (``template_weights`` set by ZPE)."""
    from PIL import Image as PILImage

    from jointspace.ingest.decode import load_image
    from jointspace.zeroshot.transductive import class_scores

    if prompt_weights not in (None, "equal") and len(images) < 2:
        # each template's logits minus their mean over the images: zero for a single image
        raise BadInputError(
            "ZPE prompt weights need a set of unlabelled images: with one image every template "
            "gets the same weight",
            hint="classify many images at once (hundreds help); for one image take the weights "
                 "from a collection's images: classify FILE -c NAME --prompt-weights zpe")
    clf = labels if isinstance(labels, ZeroShotClassifier) else build_classifier(
        embedder, labels, templates=templates, descriptions=descriptions,
        keep_prompts=bool(prompt_weights))
    pil = [im if isinstance(im, PILImage.Image) else load_image(Path(im)) for im in images]
    vectors = embedder.embed_images(pil)
    if not prompt_weights and not transductive:
        return predict_top(clf, vectors, k), clf
    scored = class_scores(clf, vectors, prompt_weights=prompt_weights, transductive=transductive)
    return predictions_from_scores(scored.classifier.classes, scored.scores, k,
                                   propagated=bool(transductive)), scored.classifier


def predictions_from_scores(classes: Sequence[str], scores: np.ndarray, k: int,
                            propagated: bool = False) -> list[Prediction]:
    """Top-``k`` per row of a score matrix: cosines (softmax at temperature 100), or propagated
    scores (shares of the positive mass, see ``propagation.to_probabilities``)."""
    from jointspace.zeroshot.propagation import to_probabilities

    probs = to_probabilities(scores) if propagated else softmax(LOGIT_SCALE * scores, axis=1)
    k = max(1, min(k, len(classes)))
    out = []
    for row in range(len(scores)):
        order = np.argsort(-scores[row], kind="stable")[:k]
        out.append(Prediction(label=classes[order[0]], score=float(scores[row, order[0]]),
                              top=[(classes[j], float(probs[row, j])) for j in order]))
    return out
