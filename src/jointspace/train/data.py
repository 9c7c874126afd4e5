"""Training pairs in memory: images preprocessed once to uint8 at the tower's size, captions flat.

Sources: a ``pairs.jsonl`` manifest (any format ``evaluate.pairs.load_pairs`` reads), a world
directory (its ``pairs.jsonl``), or webdataset shards (``dir/train-*.tar``, ``a-{000..003}.tar``)
holding ``<key>.<png|jpg|...>`` plus ``<key>.json`` (with ``captions``) or ``<key>.txt``.

Images go through the model's own image processor with rescaling and normalisation turned off,
so the stored uint8 pixels are exactly the processor's resized/cropped output; the float scaling
happens per batch in torch (:func:`normalise`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.errors import BadInputError
from jointspace.ingest.sources import row_captions
from jointspace.ingest.webdataset_source import shard_paths

_IMAGE_EXTS = ("png", "jpg", "jpeg", "webp", "bmp")


@dataclass
class PairData:
    """Images and their captions; the captions of image i are ``captions[start[i]:start[i+1]]``."""

    images: np.ndarray  # uint8 (n, 3, H, W)
    captions: list[str]  # every caption, grouped by image in image order
    start: np.ndarray  # int64 (n + 1,) caption offsets per image
    name: str
    hash: str  # content hash of the listing (files + captions)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def text_image(self) -> np.ndarray:
        """int64 (n_captions,): the image of each caption."""
        return np.repeat(np.arange(len(self)), np.diff(self.start))


@dataclass
class _Listing:
    name: str
    keys: list[str]  # one per image: a path or a shard member
    captions: list[list[str]]
    hash: str
    loader: Any  # key -> encoded bytes or path


def is_shards(spec: str) -> bool:
    """True when ``spec`` names webdataset tar shards."""
    return ".tar" in spec


def load_pair_data(spec: str, processor: Any, *, split: str | None = None,
                   captions_per_image: int | None = None, max_images: int | None = None,
                   cache_dir: str | os.PathLike | None = None) -> PairData:
    """Read pairs from ``spec`` and preprocess every image once (cached under ``cache_dir``)."""
    listing = _shard_listing(spec) if is_shards(spec) else _manifest_listing(spec, split)
    n = len(listing.keys) if max_images is None else min(max_images, len(listing.keys))
    caps = [c[:captions_per_image] if captions_per_image else c for c in listing.captions[:n]]
    if n == 0 or not any(caps):
        raise BadInputError(f"no captioned images in {spec!r}",
                            hint="pass a pairs.jsonl with file + captions, or webdataset shards")
    tag = json.dumps([listing.hash, n, processor.to_dict() if hasattr(processor, "to_dict") else
                      repr(processor)], sort_keys=True, default=str)
    key = hashlib.sha256(tag.encode()).hexdigest()[:16]
    cached = Path(cache_dir) / f"images-{key}.npy" if cache_dir else None
    if cached is not None and cached.is_file():
        images = np.load(cached)
    else:
        images = np.stack([_to_uint8(processor, listing.loader(k)) for k in listing.keys[:n]])
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")  # ranks may write at once
            np.save(tmp, images)
            os.replace(tmp, cached)
    start = np.concatenate([[0], np.cumsum([len(c) for c in caps])]).astype(np.int64)
    return PairData(images, [c for cs in caps for c in cs], start, listing.name, key)


def normalise(pixels_u8, processor: Any):
    """uint8 (n, 3, H, W) torch tensor -> float input exactly as the processor would scale it."""
    import torch

    # in place on the fresh float copy: the same arithmetic, without three batch-sized temporaries
    x = pixels_u8.float().mul_(float(getattr(processor, "rescale_factor", 1 / 255)))
    if getattr(processor, "do_normalize", True):
        mean = torch.tensor(processor.image_mean, dtype=x.dtype).view(1, -1, 1, 1)
        std = torch.tensor(processor.image_std, dtype=x.dtype).view(1, -1, 1, 1)
        x.sub_(mean).div_(std)
    return x


def _to_uint8(processor: Any, source) -> np.ndarray:
    from jointspace.ingest.decode import load_image

    image = load_image(source)
    out = processor(images=image, do_rescale=False, do_normalize=False, return_tensors="np")
    return np.clip(np.rint(np.asarray(out["pixel_values"][0])), 0, 255).astype(np.uint8)


def _manifest_listing(spec: str, split: str | None) -> _Listing:
    from jointspace.evaluate.pairs import load_pairs

    p = Path(spec)
    if p.is_dir():
        p = p / "pairs.jsonl"
    pairs = load_pairs(p, split=split)
    per_image: list[list[str]] = [[] for _ in pairs.image_paths]
    for text, i in zip(pairs.captions, pairs.text_image, strict=True):
        per_image[int(i)].append(text)
    return _Listing(pairs.name, [str(x) for x in pairs.image_paths], per_image, pairs.hash,
                    lambda k: k)


def _shard_listing(spec: str) -> _Listing:
    images: dict[str, bytes] = {}
    captions: dict[str, list[str]] = {}
    order: list[str] = []
    h = hashlib.sha256()
    for path in shard_paths(spec):
        with tarfile.open(path) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                stem, _, ext = member.name.rpartition(".")
                key = f"{path}:{stem}"
                data = tar.extractfile(member).read()
                if ext.lower() in _IMAGE_EXTS:
                    images[key] = data
                    order.append(key)
                elif ext == "json":
                    captions[key] = row_captions(json.loads(data))
                elif ext == "txt" and key not in captions:
                    captions.setdefault(key, [data.decode("utf-8").strip()])
        h.update(Path(path).name.encode() + str(os.path.getsize(path)).encode())
    keys = [k for k in order if captions.get(k)]
    h.update("\n".join(c for k in keys for c in captions[k]).encode())
    return _Listing(spec, keys, [captions[k] for k in keys], h.hexdigest(),
                    images.__getitem__)


def split_validation(data: PairData, n_val: int, seed: int) -> tuple[PairData, PairData]:
    """(train, val): ``n_val`` images drawn by ``seed`` held out, both in their original order."""
    held = held_out_mask(len(data), n_val, seed)
    return _subset(data, np.flatnonzero(~held), "train"), _subset(data, np.flatnonzero(held), "val")


def held_out_mask(n: int, n_val: int, seed: int) -> np.ndarray:
    """(n,) bool: the images :func:`split_validation` holds out."""
    held = np.zeros(n, bool)
    held[np.random.default_rng([seed, 7]).permutation(n)[:n_val]] = True
    return held


def _subset(data: PairData, rows: np.ndarray, part: str) -> PairData:
    counts = np.diff(data.start)[rows]
    start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    captions = [c for i in rows for c in data.captions[data.start[i] : data.start[i + 1]]]
    digest = hashlib.sha256(data.hash.encode() + part.encode() + rows.tobytes()).hexdigest()[:16]
    return PairData(data.images[rows], captions, start, f"{data.name}:{part}", digest)
