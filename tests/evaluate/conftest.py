"""Tiny BEIR and image-caption datasets written to tmp dirs; the embedding cache kept in tmp."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CORPUS = [
    ("d1", "Cats", "Cats purr and sleep a lot."),
    ("d2", "Dogs", "Dogs bark at the mail carrier."),
    ("d3", "Tax law", "Public finance and tax law."),
    ("d4", "", "A cat and a dog share a sofa."),
    ("d5", "Rivers", "Rivers flow to the sea."),
]
QUERIES = [("q1", "do cats purr"), ("q2", "tax law"), ("q3", "dog barking"), ("q9", "unjudged")]
QRELS = [("q1", "d1", 2), ("q1", "d4", 1), ("q2", "d3", 1), ("q3", "d2", 1), ("q3", "d4", 0)]


@pytest.fixture(autouse=True)
def _tmp_embedding_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JOINTSPACE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def tiny_beir(tmp_path) -> Path:
    root = tmp_path / "tinybeir"
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in CORPUS)
    with open(root / "queries.jsonl", "w") as f:
        f.writelines(json.dumps({"_id": i, "text": t}) + "\n" for i, t in QUERIES)
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (root / "qrels" / "test.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def tiny_pairs(tmp_path) -> Path:
    """pairs.jsonl with 4 images (solid colours), 2 captions each, one image undecodable."""
    root = tmp_path / "pairs"
    (root / "img").mkdir(parents=True)
    colours = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220)}
    rows = []
    for name, rgb in colours.items():
        Image.fromarray(np.full((16, 16, 3), rgb, np.uint8)).save(root / "img" / f"{name}.png")
        rows.append({"file": f"img/{name}.png", "split": "val",
                     "captions": [f"a {name} square", f"something {name}"]})
    (root / "img" / "broken.png").write_text("not an image")
    rows.append({"file": "img/broken.png", "split": "val", "captions": ["broken"]})
    rows.append({"file": "img/red.png", "split": "train", "captions": ["train only"]})
    (root / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return root / "pairs.jsonl"
