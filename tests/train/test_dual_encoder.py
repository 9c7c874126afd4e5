"""The jointspace dual encoder: save -> AutoModel / hf: round trip, pooling, towers."""

import numpy as np
import pytest
import torch
from PIL import Image

from jointspace.models.dual_encoder import DualEncoderModel, register, save_checkpoint


@pytest.mark.parametrize("tower", ["cnn", "vit"])
def test_checkpoint_round_trips_through_automodel_and_hf_backend(tmp_path, tower, minilm_tokenizer, tiny_model):
    from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

    from jointspace.models import load_embedder

    model = tiny_model(tower).eval()
    save_checkpoint(model, str(tmp_path), minilm_tokenizer)
    register()
    register()  # idempotent
    loaded = AutoModel.from_pretrained(str(tmp_path))
    assert isinstance(loaded, DualEncoderModel)
    ref = model.state_dict()
    assert all(torch.equal(ref[k], v) for k, v in loaded.state_dict().items())
    assert AutoImageProcessor.from_pretrained(str(tmp_path)).crop_size["height"] == 16
    assert AutoTokenizer.from_pretrained(str(tmp_path)).vocab_size == minilm_tokenizer.vocab_size

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(3)]
    texts = ["a red circle", "two small stars above a blue square", "ring"]
    emb = load_embedder(f"hf:{tmp_path}", cache=False)
    assert emb.dim == 8 and emb.modalities == {"image", "text"}
    # independent reference: pixels scaled to [-1, 1] by hand, tokens by the tokenizer
    pixels = torch.tensor(np.stack([np.asarray(im) for im in images]), dtype=torch.float32)
    pixels = (pixels.permute(0, 3, 1, 2) / 255 - 0.5) / 0.5
    with torch.no_grad():
        want_img = torch.nn.functional.normalize(model.get_image_features(pixels), dim=-1)
        enc = minilm_tokenizer(texts, padding=True, return_tensors="pt")
        want_txt = torch.nn.functional.normalize(model.get_text_features(**enc), dim=-1)
    np.testing.assert_allclose(emb.embed_images(images), want_img.numpy(), atol=1e-5)
    np.testing.assert_allclose(emb.embed_texts(texts), want_txt.numpy(), atol=1e-5)


def test_mean_pooling_ignores_padding(minilm_tokenizer, tiny_model):
    model = tiny_model().eval()
    texts = ["a red circle", "a very long caption about two small stars above a square"]
    enc = minilm_tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        batch = model.pooled_text(**enc)
        for i, text in enumerate(texts):
            alone = minilm_tokenizer([text], return_tensors="pt")
            hidden = model.text_model(**alone).last_hidden_state[0]  # no padding at all
            want = torch.nn.functional.normalize(hidden.mean(0), dim=-1)
            torch.testing.assert_close(batch[i], want, atol=1e-5, rtol=1e-5)


def test_towers_keep_position_and_reject_unknown_kinds(tiny_model):
    model = tiny_model("cnn").eval()
    left = torch.zeros(1, 3, 16, 16)
    left[..., 2:6, 2:6] = 1.0
    right = torch.flip(left, dims=[-1])
    with torch.no_grad():
        a, b = model.get_image_features(left), model.get_image_features(right)
    assert a.shape == (1, 8) and not torch.allclose(a, b)  # a flatten head sees where things are
    with pytest.raises(ValueError):
        from jointspace.models.dual_encoder import DualEncoderConfig

        DualEncoderModel(DualEncoderConfig(text_config=model.config.text_config.to_dict(),
                                           image_tower="resnet"))


def test_cnn_head_reads_earlier_stages_only_when_asked(tmp_path, minilm_tokenizer):
    """``cnn_pool_stages=2``: the head also reads the pooled second-to-last stage; the default
    keeps the saved layout, so checkpoints written before the option load unchanged."""
    from transformers import AutoModel

    from jointspace.models.dual_encoder import DualEncoderConfig

    text = {"model_type": "bert", "vocab_size": 30522, "hidden_size": 16,
            "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
    common = dict(text_config=text, image_size=16, cnn_widths=[8, 16], image_hidden=32,
                  projection_dim=8, cnn_pos_channels=4)
    plain = DualEncoderModel(DualEncoderConfig(**common)).eval()
    both = DualEncoderModel(DualEncoderConfig(**common, cnn_pool_stages=2)).eval()
    side = 4  # 16 px after two stride-2 stages
    assert plain.vision_model.head[0].in_features == 2 * 16 + 4 * side * side
    assert both.vision_model.head[0].in_features == 2 * (8 + 16) + 4 * side * side
    assert plain.state_dict().keys() == both.state_dict().keys()  # only the head is wider
    pixels = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        head_in = []
        hook = both.vision_model.head.register_forward_pre_hook(
            lambda _m, args: head_in.append(args[0]))
        both.get_image_features(pixels)
        hook.remove()
    assert head_in[0].shape == (2, 2 * (8 + 16) + 4 * side * side)
    save_checkpoint(both, str(tmp_path), minilm_tokenizer)
    register()
    loaded = AutoModel.from_pretrained(str(tmp_path))
    assert loaded.config.cnn_pool_stages == 2
    with torch.no_grad():
        torch.testing.assert_close(loaded.get_image_features(pixels),
                                   both.get_image_features(pixels))
