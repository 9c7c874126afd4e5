"""The service over a real (tiny, random-init) CLIP: torch runs on the model worker thread."""

import httpx
import pytest
from serve_helpers import COLORS, encode, shape_image

from jointspace.query import Collection


@pytest.fixture
def clip_collection(tmp_path, tiny_clip_dir):
    folder = tmp_path / "images"
    folder.mkdir()
    for i, color in enumerate(COLORS):
        shape_image(color, ("circle", "square")[i % 2], size=48, seed=i).save(folder / f"{color}.png")
    col = Collection.create(tmp_path / "clip", model=f"hf:{tiny_clip_dir}")
    col.add(folder, workers=0)
    col.add_texts(["a photo of a dog", "a red car parked on the street", "tax law"])
    col.close()
    return tmp_path / "clip"


def test_tiny_clip_search_and_classify(start_server, clip_collection):
    url = start_server([clip_collection]) + "/api/collections/clip"
    ref = Collection.open(clip_collection, readonly=True)
    try:
        got = httpx.get(f"{url}/search", params={"q": "a photo of a dog", "k": 5}).json()
        want = ref.search("a photo of a dog", k=5)
        assert [r["id"] for r in got["results"]] == [h.id for h in want]
        assert [r["score"] for r in got["results"]] == pytest.approx([h.score for h in want],
                                                                      abs=1e-4)
        picture = shape_image("blue", "circle", size=48, seed=4)
        got = httpx.post(f"{url}/search", data={"k": "3", "q": "a red car", "image_weight": "2"},
                         files={"image": ("q.png", encode(picture), "image/png")}).json()
        want = ref.search("a red car", image=picture, image_weight=2.0, k=3)
        assert [r["id"] for r in got["results"]] == [h.id for h in want]
    finally:
        ref.close()
    r = httpx.post(f"{url}/classify", data={"labels": "dog,car,law", "templates": "imagenet7"},
                   files={"image": ("q.png", encode(picture), "image/png")})
    assert r.status_code == 200, r.text
    probs = [x["probability"] for x in r.json()["labels"]]
    assert len(probs) == 3 and sum(probs) == pytest.approx(1.0, abs=1e-4)
