"""Text embedding throughput of jointspace runtimes vs the usual eager references, same texts.

    .venv/bin/python benchmarks/text.py [--n 512] [--runtime auto] [--rounds 3]

Texts: the first --n SciFact corpus documents (title + abstract, ../shared/data/scifact; MiniLM cuts
them at 256 tokens, CLIP at 77). Alternating per round, batches of 32:
  sbert reference: sentence-transformers `SentenceTransformer.encode` (all-MiniLM-L6-v2, torch);
  sbert ours:      `load_embedder("sbert:all-MiniLM-L6-v2", runtime=R).embed_texts`;
  hf reference:    eager `get_text_features` + the transformers tokenizer (random-init CLIP with
                   ViT-B/32 sizes, benchmarks/bench_models.py);
  hf ours:         `load_embedder("hf:DIR", runtime=R).embed_texts`.
Prints texts/s, the ratios (target >= 2.0) and the cosine of ours vs the reference per text.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCIFACT = HERE.parents[0].parent / "shared" / "data" / "scifact" / "corpus.jsonl"
sys.path.insert(0, str(HERE))


def load_texts(n: int) -> list[str]:
    out = []
    with open(SCIFACT) as f:
        for line in f:
            doc = json.loads(line)
            out.append(f"{doc.get('title', '')}. {doc.get('text', '')}")
            if len(out) == n:
                break
    return out


def rate(fn, texts: list[str]):
    start = time.perf_counter()
    out = fn(texts)
    return len(texts) / (time.perf_counter() - start), out


def main() -> None:
    from bench_models import build_vit_b32_clip, model_bench_parser

    ap = model_bench_parser(__doc__)
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from jointspace.runtime import configure_process

    configure_process()
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel, AutoTokenizer

    from jointspace.models import load_embedder
    from jointspace.models.sbert import resolve_sbert_source

    texts = load_texts(args.n)
    st = SentenceTransformer(resolve_sbert_source("all-MiniLM-L6-v2"), device="cpu")
    sbert = load_embedder("sbert:all-MiniLM-L6-v2", runtime=args.runtime)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_vit_b32_clip(args.model_dir or Path(tmp) / "model")
        clip = AutoModel.from_pretrained(model_dir).eval()
        tok = AutoTokenizer.from_pretrained(model_dir)
        hf = load_embedder(f"hf:{model_dir}", runtime=args.runtime)

        def st_encode(batch):
            return st.encode(batch, batch_size=32, normalize_embeddings=True)

        def clip_eager(batch):
            out = []
            with torch.inference_mode():
                for i in range(0, len(batch), 32):
                    enc = tok(batch[i:i + 32], padding=True, truncation=True, max_length=77,
                              return_tensors="pt")
                    feats = clip.get_text_features(**enc)
                    feats = feats if torch.is_tensor(feats) else feats.pooler_output
                    out.append(torch.nn.functional.normalize(feats, dim=-1).numpy())
            return np.concatenate(out)

        pairs = {"sbert": (st_encode, sbert.embed_texts), "hf": (clip_eager, hf.embed_texts)}
        results: dict[str, list[tuple[float, float]]] = {k: [] for k in pairs}
        cosines = {}
        for r in range(args.rounds):
            for name, (ref_fn, our_fn) in pairs.items():
                ref_rate, ref_out = rate(ref_fn, texts)
                our_rate, our_out = rate(our_fn, texts)
                results[name].append((ref_rate, our_rate))
                cosines[name] = float(np.sum(ref_out * our_out, axis=1).min())
                print(f"round {r + 1} {name}: reference {ref_rate:.1f} texts/s, ours "
                      f"{our_rate:.1f} texts/s (x{our_rate / ref_rate:.2f})", flush=True)
    print(f"texts: {args.n} SciFact documents  runtime: {args.runtime}  "
          f"(sbert -> {sbert.runtimes}, hf -> {hf.runtimes})")
    for name, rows in results.items():
        ratio = statistics.median(o / r for r, o in rows)
        print(f"{name}: reference {statistics.median(r for r, _ in rows):7.1f} texts/s, ours "
              f"{statistics.median(o for _, o in rows):7.1f} texts/s, ratio x{ratio:.2f} "
              f"(target >= 2.0), min cosine vs reference {cosines[name]:.5f}")


if __name__ == "__main__":
    main()
