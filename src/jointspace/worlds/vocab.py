"""The world's vocabulary: colours, shapes, sizes and the words captions may use for them.

The first word of every synonym list is the canonical name used in labels and metrics.
"""

from __future__ import annotations

# colour name -> (RGB, synonyms incl. the canonical name first)
COLOURS: dict[str, tuple[tuple[int, int, int], tuple[str, ...]]] = {
    "red": ((215, 35, 35), ("red", "crimson", "scarlet")),
    "orange": ((245, 135, 20), ("orange", "tangerine", "amber")),
    "yellow": ((240, 220, 40), ("yellow", "golden", "lemon")),
    "green": ((40, 165, 60), ("green", "emerald", "grass-green")),
    "cyan": ((40, 205, 215), ("cyan", "turquoise", "aqua")),
    "blue": ((35, 70, 215), ("blue", "cobalt", "sapphire")),
    "purple": ((135, 45, 185), ("purple", "violet", "plum")),
    "pink": ((250, 130, 195), ("pink", "rose", "bubblegum")),
    "white": ((248, 248, 248), ("white", "ivory", "snowy")),
    "black": ((18, 18, 18), ("black", "ebony", "jet-black")),
}

# shape name -> synonyms (canonical first); each synonym with its plural
SHAPES: dict[str, tuple[tuple[str, str], ...]] = {
    "circle": (("circle", "circles"), ("disc", "discs"), ("disk", "disks")),
    "square": (("square", "squares"), ("box", "boxes"), ("block", "blocks")),
    "triangle": (("triangle", "triangles"), ("triangular shape", "triangular shapes")),
    "star": (("star", "stars"), ("five-pointed star", "five-pointed stars")),
    "cross": (("cross", "crosses"), ("plus sign", "plus signs")),
    "heart": (("heart", "hearts"), ("love heart", "love hearts")),
    "hexagon": (("hexagon", "hexagons"), ("six-sided shape", "six-sided shapes")),
    "diamond": (("diamond", "diamonds"), ("rhombus", "rhombuses"), ("lozenge", "lozenges")),
    "ring": (("ring", "rings"), ("donut", "donuts"), ("hoop", "hoops")),
    "crescent": (("crescent", "crescents"), ("crescent moon", "crescent moons")),
}

# size name -> (radius as a fraction of the image side, words)
SIZES: dict[str, tuple[float, tuple[str, ...]]] = {
    "small": (0.13, ("small", "tiny", "little")),
    "medium": (0.18, ("medium", "medium-sized", "mid-sized")),
    "large": (0.24, ("large", "big", "huge")),
}

BACKGROUNDS = ("plain", "gradient", "noisy")

# Short words that may be painted into a scene (scene text).
SCENE_WORDS = (
    "cat", "dog", "sun", "moon", "stop", "exit", "open", "milk", "jazz", "rain",
    "fish", "cake", "tree", "bird", "wind", "gold", "fire", "snow", "park", "home",
)

NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


def colour_names() -> list[str]:
    """Canonical colour names in a fixed order."""
    return list(COLOURS)


def shape_names() -> list[str]:
    """Canonical shape names in a fixed order."""
    return list(SHAPES)


def compositions() -> list[tuple[str, str]]:
    """Every (colour, shape) pair in a fixed order: the zero-shot label space."""
    return [(c, s) for c in COLOURS for s in SHAPES]


def horizontal_word(x: float) -> str:
    """'left', 'center' or 'right' for a centre x in [0, 1]."""
    return "left" if x < 1 / 3 else "right" if x > 2 / 3 else "center"


def vertical_word(y: float) -> str:
    """'top', 'middle' or 'bottom' for a centre y in [0, 1] (y grows downwards)."""
    return "top" if y < 1 / 3 else "bottom" if y > 2 / 3 else "middle"
