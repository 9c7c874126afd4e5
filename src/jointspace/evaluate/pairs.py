"""Image-caption datasets for retrieval evaluation, several captions per image.

Formats (picked by content):
- JSONL pairs: one object per image with a file column (``file``, ``path``, ``image``, ...) and
  ``captions`` (list) or ``caption`` (string); paths relative to the file's folder; optional
  ``split`` field.
- COCO captions JSON: ``{"images": [{id, file_name}], "annotations": [{image_id, caption}]}``;
  images under ``image_root`` (default: the JSON's folder, or ``../images/<split>`` for
  ``annotations/captions_<split>.json``).
- Karpathy split JSON (``dataset_coco.json``, ``dataset_flickr30k.json``): ``{"images":
  [{filepath?, filename, split, sentences: [{raw}]}]}``; images under ``image_root``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jointspace.errors import BadInputError
from jointspace.ingest.sources import PATH_COLUMNS, read_manifest, row_captions


@dataclass
class ImageTextPairs:
    """Images, all their captions flattened, and which image each caption belongs to."""

    name: str
    image_paths: list[Path]
    captions: list[str]
    text_image: np.ndarray  # int64 (n_captions,): index into image_paths
    hash: str

    def subset(self, n_images: int | None) -> ImageTextPairs:
        """The first ``n_images`` images and their captions."""
        if n_images is None or n_images >= len(self.image_paths):
            return self
        keep = self.text_image < n_images
        return ImageTextPairs(f"{self.name}[:{n_images}]", self.image_paths[:n_images],
                              [c for c, k in zip(self.captions, keep, strict=True) if k],
                              self.text_image[keep], self.hash)


def load_pairs(
    path: str | Path, *, split: str | None = None, image_root: str | Path | None = None
) -> ImageTextPairs:
    """Open a captions dataset in any of the formats above; ``split`` filters where supported."""
    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"no captions file at {str(p)!r}",
                            hint="pass pairs.jsonl, a COCO captions JSON or a Karpathy JSON")
    if p.suffix.lower() == ".jsonl":
        rows = _jsonl_rows(p, split)
        root = Path(image_root) if image_root else p.parent
    else:
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise BadInputError(f"{str(p)!r} is not valid JSON: {exc}") from None
        if isinstance(data, dict) and "annotations" in data:
            rows = _coco_rows(data)
            root = Path(image_root) if image_root else _coco_image_root(p)
        elif isinstance(data, dict) and "images" in data:
            rows = _karpathy_rows(data, split or "test")
            root = Path(image_root) if image_root else p.parent
        else:
            raise BadInputError(f"{str(p)!r}: unknown captions format",
                                hint="expected COCO captions or Karpathy-split JSON")
    rows = [(f, caps) for f, caps in rows if caps]
    if not rows:
        raise BadInputError(f"no captioned images in {str(p)!r}" + (f" (split {split!r})"
                            if split else ""), hint="check the split name")
    paths = [root / f for f, _ in rows]
    captions = [c for _, caps in rows for c in caps]
    text_image = np.repeat(np.arange(len(rows)), [len(caps) for _, caps in rows])
    h = hashlib.sha256()
    for f, caps in rows:
        h.update((f + "\0" + "\0".join(caps) + "\n").encode())
    name = p.stem + (f":{split}" if split else "")
    return ImageTextPairs(name, paths, captions, text_image.astype(np.int64), h.hexdigest())


def _jsonl_rows(path: Path, split: str | None) -> list[tuple[str, list[str]]]:
    rows = []
    for i, row in enumerate(read_manifest(path)):
        if split is not None and str(row.get("split")) != split:
            continue
        col = next((c for c in PATH_COLUMNS if c in row), None)
        if col is None:
            raise BadInputError(f"{path}:{i + 1} has no file column",
                                hint=f"name it one of: {', '.join(PATH_COLUMNS)}")
        rows.append((str(row[col]), row_captions(row)))
    return rows


def _coco_rows(data: dict) -> list[tuple[str, list[str]]]:
    caps: dict[int, list[str]] = {}
    for a in data["annotations"]:
        caps.setdefault(a["image_id"], []).append(str(a["caption"]).strip())
    return [(im["file_name"], caps.get(im["id"], [])) for im in data["images"]]


def _coco_image_root(json_path: Path) -> Path:
    stem = json_path.stem  # captions_val2017
    split = stem.split("_", 1)[1] if "_" in stem else ""
    guess = json_path.parent.parent / "images" / split
    return guess if split and guess.is_dir() else json_path.parent


def _karpathy_rows(data: dict, split: str) -> list[tuple[str, list[str]]]:
    out = []
    for im in data["images"]:
        if im.get("split") != split:
            continue
        rel = str(Path(im.get("filepath", "")) / im["filename"])
        out.append((rel, [str(s.get("raw", " ".join(s.get("tokens", [])))).strip()
                          for s in im.get("sentences", [])]))
    return out
