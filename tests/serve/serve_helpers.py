"""Image makers shared by the service tests (imported by name: tests/serve is on sys.path)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

COLORS = {"red": (214, 48, 49), "orange": (240, 140, 30), "yellow": (240, 200, 40),
          "green": (46, 160, 67), "blue": (40, 90, 200), "purple": (130, 60, 170)}
SHAPES = ("circle", "square", "triangle", "diamond")


def shape_image(color: str, shape: str, size: int = 96, seed: int = 0) -> Image.Image:
    """A coloured shape on a pale background: distinct pixels per (colour, shape)."""
    bg = (246 - seed % 7 * 3, 244, 238 + seed % 5 * 3)
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    m, s, fill = size // 6, size - size // 6, COLORS[color]
    if shape == "circle":
        d.ellipse([m, m, s, s], fill=fill)
    elif shape == "square":
        d.rectangle([m, m, s, s], fill=fill)
    elif shape == "triangle":
        d.polygon([(size // 2, m), (s, s), (m, s)], fill=fill)
    else:
        d.polygon([(size // 2, m), (s, size // 2), (size // 2, s), (m, size // 2)], fill=fill)
    return im


def encode(im: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


def png_of(size: tuple[int, int], noise: bool = False, seed: int = 0) -> bytes:
    """PNG bytes of a ``size`` picture: a gradient, or incompressible noise."""
    w, h = size
    if noise:
        arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    else:
        y, x = np.mgrid[0:h, 0:w]
        arr = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1),
                        np.full_like(x, 128)], -1).astype(np.uint8)
    return encode(Image.fromarray(arr))
