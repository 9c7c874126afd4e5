"""A tiny labelled ImageFolder and its CSV twin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


@pytest.fixture(scope="session")
def colour_folder(tmp_path_factory) -> Path:
    """root/<colour>/i.png: 4 noisy solid-colour 24x24 images per class."""
    root = tmp_path_factory.mktemp("colours")
    rng = np.random.default_rng(0)
    rows = ["file,label"]
    for name, rgb in COLOURS.items():
        (root / name).mkdir()
        for i in range(4):
            px = np.clip(np.array(rgb) + rng.normal(0, 12, (24, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(px).save(root / name / f"{i}.png")
            rows.append(f"{name}/{i}.png,{name}")
    (root.parent / f"{root.name}.csv").write_text("\n".join(rows) + "\n")
    return root
