"""Render a Scene to an RGB PIL image with Pillow and numpy.

Each object is drawn as an anti-aliased mask (supersampled 4x inside its bounding box) and
composited over the background, so small shapes keep their outlines at 64x64.
"""

from __future__ import annotations

import math
from functools import cache, lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from jointspace.worlds.scene import Scene, SceneObject
from jointspace.worlds.vocab import COLOURS

_SS = 4  # supersampling factor for masks


def render_scene(scene: Scene, size: int = 64) -> Image.Image:
    """Draw ``scene`` as a ``size`` x ``size`` RGB image (deterministic given the scene)."""
    rng = np.random.default_rng(scene.seed or 0)
    canvas = _background(scene, size, rng)
    for obj in scene.objects:
        _paint_object(canvas, obj, size, rng)
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    if scene.scene_text:
        _paint_text(img, scene.scene_text, scene.background_level)
    return img


def _background(scene: Scene, size: int, rng: np.random.Generator) -> np.ndarray:
    level = float(scene.background_level)
    tint = rng.uniform(-12, 12, size=3)
    canvas = np.empty((size, size, 3), np.float32)
    canvas[:] = level + tint
    if scene.background == "gradient":
        ramp = np.linspace(-25, 25, size, dtype=np.float32)
        canvas += (ramp[:, None, None] if rng.random() < 0.5 else ramp[None, :, None])
    elif scene.background == "noisy":
        canvas += rng.normal(0, 14, size=(size, size, 1)).astype(np.float32)
    return canvas


def _paint_object(canvas: np.ndarray, obj: SceneObject, size: int, rng: np.random.Generator) -> None:
    r = obj.radius * size
    cx, cy = obj.x * size, obj.y * size
    x0, y0 = max(math.floor(cx - r) - 1, 0), max(math.floor(cy - r) - 1, 0)
    x1, y1 = min(math.ceil(cx + r) + 1, size), min(math.ceil(cy + r) + 1, size)
    w, h = x1 - x0, y1 - y0
    mask_img = Image.new("L", (w * _SS, h * _SS), 0)
    centre = ((cx - x0) * _SS, (cy - y0) * _SS)
    _draw_shape(ImageDraw.Draw(mask_img), obj.shape, centre, r * _SS, obj.rotation)
    mask = np.asarray(mask_img.resize((w, h), Image.Resampling.BOX), np.float32)[..., None] / 255
    rgb = np.asarray(COLOURS[obj.colour][0], np.float32) + rng.uniform(-12, 12, size=3)
    fill = np.broadcast_to(rgb, (h, w, 3)).copy()
    if obj.texture == "striped":
        stripes = ((np.arange(w)[None, :] + np.arange(h)[:, None]) // 2) % 2 == 1
        # darker (or, for dark colours, lighter) bands of the same hue keep the colour readable
        fill[stripes] = fill[stripes] * 0.55 if rgb.mean() > 80 else fill[stripes] + 80
    region = canvas[y0:y1, x0:x1]
    region[:] = region * (1 - mask) + fill * mask


def _rotated(points: list[tuple[float, float]], centre, rotation: float):
    a = math.radians(rotation)
    ca, sa = math.cos(a), math.sin(a)
    cx, cy = centre
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in points]


def _polygon(n: int, r: float, phase: float = -90.0) -> list[tuple[float, float]]:
    return [
        (r * math.cos(math.radians(phase + 360 * k / n)), r * math.sin(math.radians(phase + 360 * k / n)))
        for k in range(n)
    ]


@cache
def _unit_outline(shape: str) -> tuple[tuple[float, float], ...]:
    """Polygon outlines on the unit radius (circle, ring and crescent are drawn as ellipses)."""
    if shape == "square":
        pts = [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)]
    elif shape == "triangle":
        pts = [(0.0, -1.0), (0.95, 0.72), (-0.95, 0.72)]
    elif shape == "star":
        pts = [
            (rr * math.cos(math.radians(-90 + 36 * k)), rr * math.sin(math.radians(-90 + 36 * k)))
            for k, rr in zip(range(10), [1.0, 0.42] * 5)
        ]
    elif shape == "cross":
        a, b = 0.32, 0.95
        pts = [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a),
               (-b, a), (-b, -a), (-a, -a)]
    elif shape == "heart":
        pts = []
        for k in range(40):
            t = 2 * math.pi * k / 40
            x = 16 * math.sin(t) ** 3
            y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            pts.append((x / 17, -(y + 2.5) / 17))
    elif shape == "hexagon":
        pts = _polygon(6, 0.95, phase=0.0)
    elif shape == "diamond":
        pts = [(0.0, -1.0), (0.62, 0.0), (0.0, 1.0), (-0.62, 0.0)]
    else:
        raise ValueError(f"no outline for shape {shape!r}")
    return tuple(pts)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, centre, r: float, rotation: float) -> None:
    cx, cy = centre
    if shape == "circle":
        draw.ellipse([cx - r * 0.92, cy - r * 0.92, cx + r * 0.92, cy + r * 0.92], fill=255)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        ri = r * 0.5
        draw.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
    elif shape == "crescent":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        off = _rotated([(r * 0.55, -r * 0.25)], (cx, cy), rotation)[0]
        ri = r * 0.85
        draw.ellipse([off[0] - ri, off[1] - ri, off[0] + ri, off[1] + ri], fill=0)
    else:
        pts = [(x * r, y * r) for x, y in _unit_outline(shape)]
        draw.polygon(_rotated(pts, centre, rotation), fill=255)


@lru_cache(maxsize=4)
def _font(px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=px)


def _paint_text(img: Image.Image, word: str, background_level: int) -> None:
    size = img.width
    font = _font(max(8, int(size * 0.19)))
    draw = ImageDraw.Draw(img)
    colour = (15, 15, 15) if background_level > 125 else (245, 245, 245)
    left, top, right, bottom = draw.textbbox((0, 0), word, font=font)
    x = (size - (right - left)) / 2 - left
    y = size - (bottom - top) - max(1, size // 32) - top
    draw.text((x, y), word, fill=colour, font=font)
