"""Fixtures for the service: a demo collection (hash:64) and real uvicorn servers on 127.0.0.1."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from schema_check import patch_httpx
from serve_helpers import COLORS, SHAPES, shape_image

from jointspace.query import Collection
from jointspace.serve.auth import create_token
from jointspace.serve.run import build, serving_in_thread
from jointspace.serve.settings import ServeSettings

MODEL = "hash:64"
TEXTS = ["a red circle on a white background", "a blue square drawn with a ruler",
         "tax law and public finance", "a green triangle pointing up",
         "notes on the purple diamond", "an orange circle like the sun"]


def build_demo_collection(root: Path) -> Path:
    """24 shape images (manifest with caption + metadata) and 6 texts, embedded with hash:64."""
    images = root / "images"
    images.mkdir(parents=True)
    rows = []
    for n, (color, shape) in enumerate((c, s) for c in COLORS for s in SHAPES):
        name = f"{color}_{shape}.png"
        shape_image(color, shape, seed=n).save(images / name)
        article = "an" if color == "orange" else "a"
        rows.append({"path": f"images/{name}", "caption": f"{article} {color} {shape}",
                     "color": color,
                     "shape": shape, "year": 2000 + n})
    manifest = root / "shapes.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    col = Collection.create(root / "demo", model=MODEL)
    col.add(manifest, workers=0)
    col.add_texts(TEXTS, metadata=[{"source": "notes"}] * len(TEXTS))
    col.close()
    return root / "demo"


@pytest.fixture(scope="session")
def demo_collection(tmp_path_factory) -> Path:
    return build_demo_collection(tmp_path_factory.mktemp("serve_demo"))


@pytest.fixture
def writable_collection(tmp_path, demo_collection) -> Path:
    """A private copy of the demo collection that tests may change."""
    target = tmp_path / "demo"
    shutil.copytree(demo_collection, target, ignore=shutil.ignore_patterns("write.lock"))
    return target


@pytest.fixture
def start_server() -> Iterator[Callable[..., str]]:
    """``start_server(paths, **settings)`` -> base URL; everything is stopped after the test."""
    stack = []

    def start(paths, **options) -> str:
        settings = ServeSettings(**{"log_level": "warning", **options})
        app, state = build([str(p) for p in paths], settings)
        cm = serving_in_thread(app, state, settings)
        url = cm.__enter__()
        stack.append((cm, state))
        return url

    yield start
    for cm, state in reversed(stack):
        cm.__exit__(None, None, None)
        state.close()


@pytest.fixture(scope="module")
def read_demo(tmp_path_factory) -> Path:
    """A demo collection of the module's own (what ``read_server`` serves)."""
    return build_demo_collection(tmp_path_factory.mktemp("read_server"))


@pytest.fixture(scope="module")
def read_server(read_demo) -> Iterator[str]:
    """A token-less (read-only) server over ``read_demo``, shared by a module."""
    settings = ServeSettings(log_level="warning")
    app, state = build([str(read_demo)], settings)
    with serving_in_thread(app, state, settings) as url:
        yield url
    state.close()


@pytest.fixture
def tokens(tmp_path) -> dict[str, str]:
    """A tokens file with one read and one admin token: {"file", "read", "admin"}."""
    path = tmp_path / "tokens.txt"
    return {"file": str(path), "read": create_token(path, "read", "tests"),
            "admin": create_token(path, "admin", "tests")}


@pytest.fixture(autouse=True)
def responses_match_their_schemas(monkeypatch):
    """Every API response a test receives is validated against the declared OpenAPI schema."""
    patch_httpx(monkeypatch)
