"""Modality-balancing and calibration rows of benchmarks/quality.py, through real collections.

Collections are written straight from precomputed vectors (the same ones the model gives at
index time), then searched with ``Collection.search_vector`` exactly as the CLI and service do.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from jointspace.worlds.metrics import single_object_queries

K = 10


class _Lookup:
    """An embedder answering from precomputed caption vectors (calibration embeds captions)."""

    modalities = frozenset({"image", "text"})

    def __init__(self, name: str, texts: list[str], vecs: np.ndarray) -> None:
        self.name, self.dim = name, vecs.shape[1]
        self._table = dict(zip(texts, vecs, strict=True))

    def embed_texts(self, texts):
        return np.stack([self._table[t] for t in texts])


def make_collection(directory: Path, model: str, images: list[tuple[np.ndarray, str]],
                    texts: list[tuple[np.ndarray, str]], lookup: _Lookup):
    from jointspace.query import Collection
    from jointspace.store import LocalStore, NewItem, WriteBatch

    store = LocalStore.create(directory, model, lookup.dim)
    items = [NewItem(key=f"i{j}", source="bench", kind="image", vector=v, path=f"{j}.png",
                     text=cap) for j, (v, cap) in enumerate(images)]
    items += [NewItem(key=f"t{j}", source="bench", kind="text", vector=v, text=t)
              for j, (v, t) in enumerate(texts)]
    with store.writer():
        for s in range(0, len(items), 5000):
            store.write(WriteBatch(upserts=items[s : s + 5000]))
    return Collection(store, lookup)


def _relevant(row: dict, colour: str, shape: str) -> bool:
    return any(o["colour"] == colour and o["shape"] == shape for o in row["objects"])


def modality_rows(data: str, split, qvec: np.ndarray, queries, model: str,
                  workdir: Path, bank_txt: np.ndarray | None = None) -> list[dict]:
    """Test images plus two captions each in one collection; single-object text queries."""
    n = len(split.rows)
    starts = np.flatnonzero(np.r_[True, np.diff(split.text_image) != 0])
    first_two = sorted(set(starts) | {s + 1 for s in starts
                                      if s + 1 < len(split.captions)
                                      and split.text_image[s + 1] == split.text_image[s]})
    lookup = _Lookup(model, split.captions, split.txt)
    col = make_collection(workdir / "mixed", model,
                          [(split.img[j], split.rows[j]["captions"][0]) for j in range(n)],
                          [(split.txt[t], split.captions[t]) for t in first_two], lookup)
    text_row = {n + 1 + j: int(split.text_image[t]) for j, t in enumerate(first_two)}

    def run(balance):
        n_img, both, img_prec, only_prec, answerable = [], [], [], [], []
        for q, v in zip(queries, qvec, strict=True):
            # relevant items of both kinds exist (the world's held-out compositions have none)
            has_img = any(_relevant(r, q.colour, q.shape) for r in split.rows)
            has_txt = any(_relevant(split.rows[r], q.colour, q.shape) for r in text_row.values())
            hits = col.search_vector(v, k=K, balance_modalities=balance)
            rel = [_relevant(split.rows[h.id - 1] if h.kind == "image" else
                             split.rows[text_row[h.id]], q.colour, q.shape) for h in hits]
            imgs = [r for h, r in zip(hits, rel, strict=True) if h.kind == "image"]
            txts = [r for h, r in zip(hits, rel, strict=True) if h.kind == "text"]
            n_img.append(len(imgs))
            both.append(any(imgs) and any(txts))
            if has_img and has_txt:
                answerable.append(both[-1])
            if imgs:
                img_prec.append(np.mean(imgs))
            only = col.search_vector(v, k=K, kind="image")
            only_prec.append(np.mean([_relevant(split.rows[h.id - 1], q.colour, q.shape)
                                      for h in only]))
        return {"images in top 10": float(np.mean(n_img)),
                "both kinds relevant in top 10": float(np.mean(both)),
                "both kinds relevant, of queries where both exist": float(np.mean(answerable)),
                "image precision among returned images": float(np.mean(img_prec))
                if img_prec else 0.0,
                "image-only collection P@10": float(np.mean(only_prec))}

    plain, balanced = run(False), run(True)
    gap = col.quality_info()["modality_gap"]
    timing = latency(col, qvec, bank_txt) if bank_txt is not None else []
    col.close()
    rows = [{"method": "balance modalities", "data": data, "split": "test", "metric": m,
             "plain": plain[m], "with_method": balanced[m]} for m in plain]
    rows.append({"method": "balance modalities", "data": data, "split": "test",
                 "metric": "modality gap (centroid distance)", "plain": gap, "with_method": gap})
    return rows + [r | {"data": data, "split": "test"} for r in timing]


def latency(col, qvec: np.ndarray, bank_txt: np.ndarray, rounds: int = 3) -> list[dict]:
    """Median ms per query, each method against plain search in interleaved rounds."""
    col.build_query_bank(vectors=bank_txt)
    col.calibration()
    methods = {"hubness qbnorm": {"hubness": "qbnorm"}, "hubness csls": {"hubness": "csls"},
               "balance modalities": {"balance_modalities": True},
               "min-score auto": {"min_score": "auto"}}
    plain_opts = {"balance_modalities": False}
    for opts in (plain_opts, *methods.values()):
        col.search_vector(qvec[0], k=K, **opts)  # warm: state loaded, caches filled
    out = []
    for name, opts in methods.items():
        base, meth = [], []
        for _ in range(rounds):
            for v in qvec:
                for side, o in ((base, plain_opts), (meth, {**plain_opts, **opts})):
                    t = time.perf_counter()
                    col.search_vector(v, k=K, **o)
                    side.append((time.perf_counter() - t) * 1000)
        out.append({"method": name, "metric": "ms per query (median; shared 2-core machine)",
                    "plain": float(np.median(base)), "with_method": float(np.median(meth))})
    return out


def calibration_rows(data: str, split_name: str, split, qvec: np.ndarray, queries, model: str,
                     workdir: Path, miss: float | None = None, groups: int = 10) -> list[dict]:
    """Remove a tenth of the compositions from the gallery at a time; query all 100.

    A query is *absent* when the gallery holds no relevant image (its composition was removed,
    or it is one of the world's held-out compositions, which no split but heldout shows) and
    *present* otherwise."""
    from jointspace.query.calibration import DEFAULT_MISS
    from jointspace.query.quality_setup import CALIBRATION, fit_calibration

    lookup = _Lookup(model, split.captions, split.txt)
    first = [int(np.flatnonzero(split.text_image == j)[0]) for j in range(len(split.rows))]
    absent_empty, present_hit, returned, relevant_returned = [], [], 0, 0
    prec_plain, hit_plain = [], []
    for g in range(groups):
        removed = {(q.colour, q.shape) for i, q in enumerate(queries) if i % groups == g}
        keep = [j for j, r in enumerate(split.rows)
                if not any((o["colour"], o["shape"]) in removed for o in r["objects"])]
        col = make_collection(workdir / f"cal{g}", model,
                              [(split.img[j], split.captions[first[j]]) for j in keep], [], lookup)
        cal = fit_calibration(col.store, col._derived, lookup.embed_texts,
                              miss=DEFAULT_MISS if miss is None else miss)
        col._derived.put(CALIBRATION, cal, cal.to_bytes(), col.store.seq())
        for q, v in zip(queries, qvec, strict=True):
            hits = col.search_vector(v, k=K, min_score="auto")
            rel = [_relevant(split.rows[keep[h.id - 1]], q.colour, q.shape) for h in hits]
            if not any(_relevant(split.rows[j], q.colour, q.shape) for j in keep):
                absent_empty.append(len(hits) == 0)
            else:
                present_hit.append(any(rel))
                returned += len(hits)
                relevant_returned += sum(rel)
                plain = [_relevant(split.rows[keep[h.id - 1]], q.colour, q.shape)
                         for h in col.search_vector(v, k=K)]
                prec_plain.append(np.mean(plain))
                hit_plain.append(any(plain))
        col.close()
    label = "min-score auto" + ("" if miss is None else f" (miss={miss:g})")
    row = {"method": label, "data": data, "split": split_name}
    return [
        row | {"metric": "absent compositions: share returning nothing", "plain": 0.0,
               "with_method": float(np.mean(absent_empty))},
        row | {"metric": "present: share with >= 1 relevant returned",
               "plain": float(np.mean(hit_plain)),
               "with_method": float(np.mean(present_hit))},
        row | {"metric": "present: precision of returned items", "plain": float(np.mean(prec_plain)),
               "with_method": relevant_returned / max(returned, 1)},
    ]


def world_queries(heldout) -> list:
    return single_object_queries(heldout)


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="jointspace-quality-"))
