"""Score any joint embedder on a generated world's test splits.

The gallery is ``test`` + ``heldout`` (images never seen in training). Reported:
- ``p_at_k``: text->image precision@K of the 100 single-object queries ("a red circle"), split
  into compositions seen in training and held-out ones, and of the same 100 in other words
  ("a crimson disc": ``paraphrase``);
- ``zero_shot``: colour x shape top-1 of single-object images over all 100 compositions
  (prompt "a|an {colour} {shape}"), seen vs held-out vs chance, with confusion matrices;
- ``recall``: standard multi-caption retrieval recall@K on the first ``pairs_images`` test images.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.models.base import Embedder
from jointspace.worlds.generate import load_world_meta
from jointspace.worlds.metrics import (
    paraphrase_queries,
    precision_at_k,
    relevance,
    single_object_queries,
    single_object_targets,
)
from jointspace.worlds.vocab import compositions


@dataclass
class WorldReport:
    p_at_k: dict[str, float]  # seen / heldout / all / paraphrase (mean over queries)
    zero_shot: dict[str, float]  # seen_top1 / heldout_top1 / chance / n_seen / n_heldout
    recall: dict[str, float]  # i2t_R@K, t2i_R@K, mean_recall on test pairs
    per_query: list[dict[str, Any]]  # text, heldout, p_at_k
    k: int
    confusion: dict[str, list[list[int]]] = field(default_factory=dict)  # seen/heldout (100x100)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, float]:
        """The headline numbers in one flat dict."""
        return {
            f"P@{self.k} seen": self.p_at_k["seen"], f"P@{self.k} heldout": self.p_at_k["heldout"],
            f"P@{self.k} paraphrase": self.p_at_k["paraphrase"],
            "zero-shot seen": self.zero_shot["seen_top1"],
            "zero-shot heldout": self.zero_shot["heldout_top1"],
            "zero-shot chance": self.zero_shot["chance"],
            "t2i R@1": self.recall.get("t2i_R@1", 0.0), "t2i R@5": self.recall.get("t2i_R@5", 0.0),
            "i2t R@1": self.recall.get("i2t_R@1", 0.0),
        }


def read_rows(world: str | Path, split: str) -> list[dict]:
    """Manifest rows of one split, ``file`` made absolute."""
    base = Path(world) / split
    with open(base / "pairs.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    for r in rows:
        r["file"] = str(base / r["file"])
    return rows


def gallery_rows(world: str | Path) -> list[dict]:
    """The evaluation gallery: test then heldout rows."""
    return read_rows(world, "test") + read_rows(world, "heldout")


def evaluate_world(embedder: Embedder, world: str | Path, *, k: int = 10, pairs_images: int = 1000,
                   image_vectors: np.ndarray | None = None) -> WorldReport:
    """Embed the gallery (unless ``image_vectors`` are given, rows as in :func:`gallery_rows`)."""
    from jointspace.evaluate.images import embed_image_files
    from jointspace.evaluate.itm import retrieval_metrics
    from jointspace.zeroshot.metrics import confusion_matrix, predict, topk_accuracy

    meta = load_world_meta(world)
    rows = gallery_rows(world)
    if image_vectors is None:
        image_vectors, _, errors = embed_image_files(embedder, [r["file"] for r in rows])
        if errors:
            from jointspace.errors import BadInputError

            raise BadInputError(f"{len(errors)} world images failed to decode: {errors[0]}",
                                hint="regenerate the world with `jointspace world generate`")
    queries = single_object_queries(meta["heldout_pairs"])
    qvec = embedder.embed_texts([q.text for q in queries])
    p = precision_at_k(qvec @ image_vectors.T, relevance(rows, queries), k)
    held = np.array([q.heldout for q in queries])
    para = paraphrase_queries(meta["heldout_pairs"])
    pp = precision_at_k(embedder.embed_texts([q.text for q in para]) @ image_vectors.T,
                        relevance(rows, para), k)
    p_at_k = {"seen": _mean(p[~held]), "heldout": _mean(p[held]), "all": _mean(p),
              "paraphrase": _mean(pp)}

    keep, targets = single_object_targets(rows)
    scores = image_vectors[keep] @ qvec.T  # queries are in compositions() order: class scores
    is_held = held[targets]
    pred = predict(scores)
    zero = {
        "seen_top1": topk_accuracy(scores[~is_held], targets[~is_held], 1),
        "heldout_top1": topk_accuracy(scores[is_held], targets[is_held], 1),
        "chance": 1 / len(compositions()),
        "n_seen": int((~is_held).sum()), "n_heldout": int(is_held.sum()),
    }
    n_cls = len(compositions())
    confusion = {
        "seen": confusion_matrix(pred[~is_held], targets[~is_held], n_cls).tolist(),
        "heldout": confusion_matrix(pred[is_held], targets[is_held], n_cls).tolist(),
    }
    test = [r for r in rows if r["split"] == "test"][:pairs_images]
    captions = [c for r in test for c in r["captions"]]
    text_image = np.repeat(np.arange(len(test)), [len(r["captions"]) for r in test])
    cvec = embedder.embed_texts(captions)
    recall = retrieval_metrics(image_vectors[: len(test)] @ cvec.T, text_image)
    per_query = [{"text": q.text, "heldout": q.heldout, "p_at_k": round(float(v), 4)}
                 for q, v in zip(queries, p, strict=True)]
    return WorldReport({k_: round(v, 4) for k_, v in p_at_k.items()},
                       {k_: (round(v, 4) if isinstance(v, float) else v) for k_, v in zero.items()},
                       {k_: round(v, 4) for k_, v in recall.items()}, per_query, k, confusion)


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else 0.0
