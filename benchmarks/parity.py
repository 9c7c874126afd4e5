"""Quality parity of the runtimes with eager torch on real tasks (the issue's bars).

    .venv/bin/python benchmarks/parity.py [--demo runs/demo] [--scifact ../shared/data/scifact]
                                           [--runtimes onnx,onnx-int8,bf16,auto] [--docs 1500]

- demo: the trained demo model (`make demo`; hf:<demo>/train/model): text->image P@10 and zero-shot
  colour x shape top-1 on the world's test split (`worlds.evaluate.evaluate_world`), per runtime,
  minus the same for torch (bar: |change| <= 0.01).
- scifact: all-MiniLM-L6-v2 nDCG@10 on SciFact *train* queries, per runtime, minus torch (bar:
  |change| <= 0.003). ``--docs N`` ranks over the relevant documents plus N seeded random others
  (the full 5,183-document corpus with --docs 0); both runtimes rank the same documents.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def demo(model: str, world: Path, runtimes: list[str]) -> None:
    from jointspace.models import load_embedder
    from jointspace.worlds.evaluate import evaluate_world

    def metrics(runtime: str) -> dict[str, float]:
        report = evaluate_world(load_embedder(model, runtime=runtime), world, k=10)
        return {"P@10": report.p_at_k["all"], "zero-shot seen": report.zero_shot["seen_top1"],
                "zero-shot held out": report.zero_shot["heldout_top1"]}

    ref = metrics("torch")
    print(f"demo torch: {ref}", flush=True)
    for runtime in runtimes:
        got = metrics(runtime)
        diffs = {k: round(got[k] - ref[k], 4) for k in ref}
        worst = max(abs(v) for v in diffs.values())
        print(f"demo {runtime}: {got}  change {diffs}  "
              f"{'meets' if worst <= 0.01 else 'MISSES'} the 0.01 bar", flush=True)


def scifact(path: Path, runtimes: list[str], docs: int) -> None:
    from jointspace.evaluate.beir import load_beir
    from jointspace.evaluate.beir_eval import top_k_run
    from jointspace.evaluate.ranking import evaluate_run
    from jointspace.models import load_embedder

    ds = load_beir(path, "train")
    keep = list(range(len(ds.corpus_ids)))
    if docs:
        relevant = {d for rels in ds.qrels.values() for d in rels}
        others = [i for i, d in enumerate(ds.corpus_ids) if d not in relevant]
        keep = sorted({i for i, d in enumerate(ds.corpus_ids) if d in relevant}
                      | set(random.Random(0).sample(others, min(docs, len(others)))))
    texts = [ds.dense_texts()[i] for i in keep]
    ids = [ds.corpus_ids[i] for i in keep]

    def ndcg(runtime: str) -> float:
        emb = load_embedder("sbert:all-MiniLM-L6-v2", runtime=runtime)
        sims = emb.embed_texts(ds.queries) @ emb.embed_texts(texts).T
        return evaluate_run(ds.qrels, top_k_run(ds.query_ids, ids, sims, 100), (10,))["ndcg@10"]

    ref = ndcg("torch")
    print(f"scifact train ({len(ds.query_ids)} queries, {len(ids)} docs) torch nDCG@10 {ref:.4f}",
          flush=True)
    for runtime in runtimes:
        got = ndcg(runtime)
        print(f"scifact {runtime}: nDCG@10 {got:.4f} change {got - ref:+.4f} "
              f"{'meets' if abs(got - ref) <= 0.003 else 'MISSES'} the 0.003 bar", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--demo", type=Path, default=ROOT / "runs" / "demo")
    ap.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    ap.add_argument("--runtimes", default="onnx,onnx-int8,bf16,auto")
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--skip", choices=["demo", "scifact"], default=None)
    args = ap.parse_args()
    runtimes = args.runtimes.split(",")
    if args.skip != "demo":
        demo(f"hf:{args.demo / 'train' / 'model'}", args.demo / "world", runtimes)
    if args.skip != "scifact":
        scifact(args.scifact, runtimes, args.docs)


if __name__ == "__main__":
    main()
