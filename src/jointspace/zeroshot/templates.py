"""Prompt templates for zero-shot classification; ``{}`` marks where the class name goes.

``IMAGENET_80`` are the 80 templates OpenAI used for CLIP's ImageNet zero-shot results
(CLIP repo, notebooks/Prompt_Engineering_for_ImageNet.ipynb); open_clip and most papers reuse
them for every dataset.
"""

from __future__ import annotations

from collections.abc import Sequence

from jointspace.errors import BadInputError

SINGLE = ("a photo of a {}.",)

IMAGENET_80 = (
    "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a bad photo of the {}.", "a cropped photo of the {}.",
    "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.",
    "a dark photo of the {}.", "a drawing of a {}.", "a photo of my {}.", "the plastic {}.",
    "a photo of the cool {}.", "a close-up photo of a {}.", "a black and white photo of the {}.",
    "a painting of the {}.", "a painting of a {}.", "a pixelated photo of the {}.",
    "a sculpture of the {}.", "a bright photo of the {}.", "a cropped photo of a {}.",
    "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.",
    "a rendering of the {}.", "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.",
    "a close-up photo of the {}.", "a photo of a {}.", "the origami {}.",
    "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.", "a origami {}.",
    "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.",
    "a photo of a nice {}.", "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.",
    "art of a {}.", "a sketch of the {}.", "a embroidered {}.", "a pixelated photo of a {}.",
    "itap of the {}.", "a jpeg corrupted photo of the {}.", "a good photo of a {}.",
    "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.",
    "a dark photo of a {}.", "itap of a {}.", "graffiti of the {}.", "a toy {}.",
    "itap of my {}.", "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
)

# A 7-template subset from the same notebook, nearly as good and ~11x cheaper.
IMAGENET_7 = (
    "itap of a {}.", "a bad photo of the {}.", "a origami {}.", "a photo of the large {}.",
    "a {} in a video game.", "art of the {}.", "a photo of the small {}.",
)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "single": SINGLE,
    "imagenet80": IMAGENET_80,
    "imagenet7": IMAGENET_7,
    "none": ("{}",),  # the bare class name
}


def resolve_templates(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """A named set (``single``, ``imagenet80``, ``imagenet7``, ``none``), or the user's templates.

    A string that is not a set name is one template, e.g. ``"a satellite photo of {}."``.
    """
    if spec is None:
        return SINGLE
    if isinstance(spec, str):
        if spec in TEMPLATE_SETS:
            return TEMPLATE_SETS[spec]
        spec = [spec]
    templates = tuple(spec)
    if not templates:
        raise BadInputError("no prompt templates given", hint="use e.g. 'a photo of a {}.'")
    for t in templates:
        if t.count("{}") != 1:
            raise BadInputError(
                f"prompt template {t!r} must contain exactly one '{{}}' for the class name",
                hint=f"e.g. 'a photo of a {{}}.', or a named set: {', '.join(TEMPLATE_SETS)}",
            )
    return templates


def fill(template: str, name: str) -> str:
    """Put a class name into a template (only the ``{}``; other braces are left alone)."""
    return template.replace("{}", name, 1)
