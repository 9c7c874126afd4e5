"""The edits a copy of a photo typically went through, for measuring duplicate detection.

Each variant is (name, file suffix, encoded bytes): half size, JPEG quality 35, 90 % centre crop,
a 4 degree rotation, and a PNG re-encode.
"""

from __future__ import annotations

import io

from PIL import Image

VARIANTS = ("half", "jpeg35", "crop90", "rotate4", "png")


def make_variants(image: Image.Image) -> list[tuple[str, str, bytes]]:
    """Every variant of ``image`` in :data:`VARIANTS` order."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    dx, dy = round(w * 0.05), round(h * 0.05)
    edits = {
        "half": (rgb.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS),
                 "JPEG", {"quality": 90}),
        "jpeg35": (rgb, "JPEG", {"quality": 35}),
        "crop90": (rgb.crop((dx, dy, w - dx, h - dy)), "JPEG", {"quality": 90}),
        "rotate4": (rgb.rotate(4, resample=Image.Resampling.BICUBIC, expand=False,
                               fillcolor=(0, 0, 0)), "JPEG", {"quality": 90}),
        "png": (rgb, "PNG", {}),
    }
    out = []
    for name in VARIANTS:
        img, fmt, opts = edits[name]
        buf = io.BytesIO()
        img.save(buf, fmt, **opts)
        out.append((name, ".png" if fmt == "PNG" else ".jpg", buf.getvalue()))
    return out
