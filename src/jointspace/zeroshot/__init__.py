"""Zero-shot classification: prompts -> class embeddings -> labels, metrics and tagging."""

from jointspace.zeroshot.classifier import (
    Prediction,
    ZeroShotClassifier,
    build_classifier,
    classify,
    load_descriptions,
)
from jointspace.zeroshot.datasets import LabeledImages, load_labeled_images
from jointspace.zeroshot.evaluate import evaluate_zeroshot
from jointspace.zeroshot.tagging import TagReport, tag_collection, tag_vectors
from jointspace.zeroshot.templates import IMAGENET_80, TEMPLATE_SETS, resolve_templates

__all__ = [
    "IMAGENET_80",
    "TEMPLATE_SETS",
    "LabeledImages",
    "Prediction",
    "TagReport",
    "ZeroShotClassifier",
    "build_classifier",
    "classify",
    "evaluate_zeroshot",
    "load_descriptions",
    "load_labeled_images",
    "resolve_templates",
    "tag_collection",
    "tag_vectors",
]
