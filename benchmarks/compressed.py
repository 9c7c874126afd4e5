"""Retained quality of the compressed index kinds: SciFact (train qrels), all-MiniLM-L6-v2.

    .venv/bin/python benchmarks/compressed.py [--data ../shared/data/scifact] [--cache-dir DIR]

The corpus and query embeddings are computed once (through the evaluation's disk cache, a few
minutes on 2 cores) and the same vectors go into one collection per index kind. Each query is
searched through ``LocalStore.search`` (k=10: codes, shortlist, exact rescoring from SQLite) and
nDCG@10 is scored with the evaluation's own metrics; the table prints each kind's nDCG@10 as a
ratio to the exact fp32 (``flat``) run, its recall@10 against ``flat``, the snapshot size on disk
(the index's memory: the code kinds keep float vectors only in SQLite) and the per-query latency,
the kinds taking turns query by query.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

KINDS = ("flat", "int8", "binary", "hnsw")


def build(directory: Path, doc_ids: list[str], vecs: np.ndarray, spec: str):
    """A collection of index ``spec``: KIND or KIND:DIM (a truncated prefix, ``--dim``)."""
    from jointspace.store import LocalStore, NewItem, WriteBatch

    kind, _, dim = spec.partition(":")
    store = LocalStore.create(directory, "sbert:all-MiniLM-L6-v2", vecs.shape[1], index=kind,
                              index_dim=int(dim) if dim else None)
    with store.writer():
        store.write(WriteBatch(upserts=[NewItem(key=d, source="scifact", kind="text", vector=v)
                                        for d, v in zip(doc_ids, vecs)]))
        store.save_index()
    by_id = {i: k for k, i in store.keys_of_source("scifact").items()}
    return store, by_id


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", default=str(Path(__file__).parents[1] / "../shared/data/scifact"))
    ap.add_argument("--cache-dir", default=None, help="embedding cache (default: the eval's)")
    ap.add_argument("--kinds", nargs="+", default=list(KINDS),
                    help="index kinds; KIND:DIM indexes a DIM prefix (e.g. int8:192)")
    args = ap.parse_args()

    from jointspace.evaluate.beir import load_beir
    from jointspace.evaluate.cache import cached_embed_texts
    from jointspace.evaluate.ranking import evaluate_run
    from jointspace.models import load_embedder
    from jointspace.runtime import configure_process

    configure_process()
    ds = load_beir(args.data, "train")
    embedder = load_embedder("sbert:all-MiniLM-L6-v2")
    docs, _ = cached_embed_texts(embedder, ds.dense_texts(), args.cache_dir)
    queries, _ = cached_embed_texts(embedder, ds.queries, args.cache_dir)
    print(f"SciFact train: {len(docs)} docs, {len(queries)} queries, dim {docs.shape[1]}")
    with tempfile.TemporaryDirectory() as tmp:
        stores = {k: build(Path(tmp) / k.replace(":", "-"), ds.corpus_ids, docs, k)
                  for k in args.kinds}
        runs = {k: {} for k in args.kinds}
        times = {k: [] for k in args.kinds}
        for qid, q in zip(ds.query_ids, queries):
            for kind, (store, by_id) in stores.items():
                t = time.perf_counter()
                hits = store.search(q[None], 10)[0]
                times[kind].append(time.perf_counter() - t)
                runs[kind][qid] = {by_id[i]: s for i, s in hits}
        ndcg = {k: evaluate_run(ds.qrels, runs[k], [10])["ndcg@10"] for k in args.kinds}
        ref = ndcg.get("flat")
        print(f"{'kind':10} {'nDCG@10':>8} {'vs fp32':>8} {'recall@10':>10} {'index MB':>9} "
              f"{'p50 ms':>7} {'p99 ms':>7}")
        for kind, (store, _) in stores.items():
            snap = next(Path(store.directory).glob("index-*.faiss")).stat().st_size / 1e6
            rec = (np.mean([len(runs[kind][q].keys() & runs["flat"][q].keys()) / 10
                            for q in ds.query_ids]) if "flat" in runs else float("nan"))
            ratio = ndcg[kind] / ref if ref else float("nan")
            p50, p99 = (np.percentile(times[kind], p) * 1e3 for p in (50, 99))
            print(f"{kind:10} {ndcg[kind]:8.4f} {ratio:8.4f} {rec:10.4f} {snap:9.2f} "
                  f"{p50:7.2f} {p99:7.2f}")
            store.close()


if __name__ == "__main__":
    main()
