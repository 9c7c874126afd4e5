"""Zero-shot classification: prompts -> class embeddings -> labels, metrics and tagging."""

from jointspace.zeroshot.classifier import (
    Prediction,
    ZeroShotClassifier,
    build_classifier,
    classify,
    classify_set,
    load_descriptions,
    weight_prompts,
)
from jointspace.zeroshot.datasets import LabeledImages, load_labeled_images
from jointspace.zeroshot.evaluate import evaluate_zeroshot
from jointspace.zeroshot.prompt_weights import zpe_weights
from jointspace.zeroshot.propagation import Propagation, PropagationSettings, propagate
from jointspace.zeroshot.tagging import (
    TagReport,
    classify_set_with_collection,
    classify_with_collection,
    tag_collection,
    tag_vectors,
)
from jointspace.zeroshot.templates import IMAGENET_80, TEMPLATE_SETS, resolve_templates

__all__ = [
    "IMAGENET_80",
    "TEMPLATE_SETS",
    "LabeledImages",
    "Prediction",
    "Propagation",
    "PropagationSettings",
    "TagReport",
    "ZeroShotClassifier",
    "build_classifier",
    "classify",
    "classify_set",
    "classify_set_with_collection",
    "classify_with_collection",
    "evaluate_zeroshot",
    "load_descriptions",
    "load_labeled_images",
    "propagate",
    "resolve_templates",
    "tag_collection",
    "tag_vectors",
    "weight_prompts",
    "zpe_weights",
]
