"""A fast equivalent of the PIL image processors of CLIP and SigLIP, for decode workers.

transformers' PIL backend turns the picture into a numpy array, back into a PIL image to resize,
back to numpy to crop, then rescales in float64. This does the same resize on the uint8 PIL image,
crops before converting, and fuses rescale + normalise: the same pixels (resize and crop are the
identical PIL/numpy operations; arithmetic differs by float rounding), at about a third of the
cost. ``fast_plan`` returns None for any processor it does not reproduce, and every plan is
checked against the processor on probe pictures before use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

_SUPPORTED = {"CLIPImageProcessorPil", "SiglipImageProcessorPil"}
_TOLERANCE = 1e-5  # largest difference from the processor's output allowed by the self-check


@dataclass(frozen=True)
class FastPlan:
    """Resize (shortest edge or fixed size), optional centre crop, rescale and normalise."""

    shortest_edge: int | None  # resize so the shorter side is this (aspect kept) ...
    size: tuple[int, int] | None  # ... or to exactly (height, width)
    crop: tuple[int, int] | None  # centre crop (height, width)
    resample: int  # PIL resampling filter
    scale: float  # rescale factor (1/255)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    convert_rgb: bool = True  # composite transparency on white first, as transformers does

    def __call__(self, image: Any) -> np.ndarray:
        image = _to_rgb(image, self.convert_rgb)
        w, h = image.size
        if self.shortest_edge:
            s = self.shortest_edge
            short, long = (w, h) if w <= h else (h, w)
            new_long = int(s * long / short)
            new_h, new_w = (new_long, s) if w <= h else (s, new_long)
        else:
            new_h, new_w = self.size
        image = image.resize((new_w, new_h), self.resample)
        if self.crop:
            ch, cw = self.crop
            top, left = (new_h - ch) // 2, (new_w - cw) // 2
            image = image.crop((left, top, left + cw, top + ch))
        arr = (np.asarray(image, dtype=np.float64) * self.scale).astype(np.float32)
        mean = np.asarray(self.mean, np.float32)
        std = np.asarray(self.std, np.float32)
        return np.ascontiguousarray(((arr - mean) / std).transpose(2, 0, 1))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FastPlan:
        tup = lambda v: tuple(v) if v is not None else None  # noqa: E731 - JSON gives lists
        return cls(d["shortest_edge"], tup(d["size"]), tup(d["crop"]), d["resample"], d["scale"],
                   tup(d["mean"]), tup(d["std"]), d.get("convert_rgb", True))


class PlanPreprocessor:
    """A picklable image preprocessor made of a ``FastPlan`` alone: decode workers that unpickle
    it import PIL and numpy, not transformers (the export cache stores the plan as data)."""

    layout = None  # pixel_values only

    def __init__(self, plan: FastPlan, input_size: int | None) -> None:
        self.fast = plan
        self.input_size = input_size

    def __call__(self, image: Any) -> np.ndarray:
        return self.fast(image)


def fast_plan(processor: Any) -> FastPlan | None:
    """The plan reproducing ``processor``, or None if it is not one this module handles."""
    if type(processor).__name__ not in _SUPPORTED:
        return None
    get = lambda name: getattr(processor, name, None)  # noqa: E731
    if not (get("do_resize") and get("do_rescale") and get("do_normalize")) or get("do_pad"):
        return None
    size, crop = get("size"), get("crop_size") if get("do_center_crop") else None
    edge = _field(size, "shortest_edge")
    fixed = (_field(size, "height"), _field(size, "width"))
    if _field(size, "longest_edge") or (not edge and not all(fixed)):
        return None
    if crop and max(_field(crop, "height") or 0, _field(crop, "width") or 0) > (
            edge or min(fixed)):
        return None  # a crop larger than the resized picture pads: not reproduced here
    try:
        plan = FastPlan(
            shortest_edge=edge, size=None if edge else fixed,
            crop=(_field(crop, "height"), _field(crop, "width")) if crop else None,
            resample=int(get("resample")), scale=float(get("rescale_factor")),
            mean=tuple(float(m) for m in _triple(get("image_mean"))),
            std=tuple(float(s) for s in _triple(get("image_std"))),
            convert_rgb=bool(get("do_convert_rgb")))
    except (TypeError, ValueError):
        return None
    return plan if _matches(plan, processor) else None


def _to_rgb(image: Any, composite: bool) -> Any:
    """transformers' ``convert_to_rgb``: transparency (alpha band or a transparent colour) is
    composited onto white; anything else is a plain RGB conversion."""
    from PIL import Image

    if composite and ("A" in image.getbands() or image.info.get("transparency") is not None):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, image.convert("RGBA")).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _field(value: Any, key: str) -> int | None:
    if value is None:
        return None
    got = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
    return int(got) if got else None


def _triple(value: Any) -> list[float]:
    values = [value] * 3 if isinstance(value, (int, float)) else list(value)
    if len(values) != 3:
        raise ValueError("expected 3 channels")
    return values


def _matches(plan: FastPlan, processor: Any) -> bool:
    from jointspace.models.runtimes.probes import probe_images

    for image in probe_images(6, seed=7):
        want = np.asarray(processor(images=image.convert("RGB"), return_tensors="np")
                          ["pixel_values"][0])
        got = plan(image.convert("RGB"))
        if got.shape != want.shape or float(np.abs(got - want).max()) > _TOLERANCE:
            return False
    return True
