import pytest

from jointspace.errors import BadInputError, ModelUnavailableError
from jointspace.models import available_backends, load_embedder, register_backend
from jointspace.models.hashing import HashEmbedder
from jointspace.models.registry import _BACKENDS, clear_cache, parse_model_name


@pytest.fixture
def restore_registry():
    saved = dict(_BACKENDS)
    yield
    _BACKENDS.clear()
    _BACKENDS.update(saved)
    clear_cache()


def test_builtin_backends_are_registered():
    assert {"hf", "sbert", "openclip", "hash"} <= set(available_backends())


def test_unknown_prefix_lists_known_backends():
    with pytest.raises(ModelUnavailableError) as info:
        load_embedder("nope:whatever")
    assert "'nope'" in str(info.value)
    for prefix in ("hf:", "sbert:", "openclip:", "hash:"):
        assert prefix in info.value.hint


def test_name_without_prefix_is_rejected():
    with pytest.raises(ModelUnavailableError, match="no backend prefix"):
        load_embedder("all-MiniLM-L6-v2")


def test_empty_spec_is_bad_input():
    with pytest.raises(BadInputError):
        parse_model_name("hf:")


def test_spec_keeps_colons_after_the_prefix():
    assert parse_model_name("hf:C:/models/clip") == ("hf", "C:/models/clip")


def test_models_are_cached_per_name_and_options():
    a = load_embedder("hash:8")
    assert load_embedder("hash:8") is a
    assert load_embedder("hash:8", seed=1) is not a
    assert load_embedder("hash:8", cache=False) is not a


def test_external_backend_registers_like_builtins(restore_registry):
    calls = []

    def factory(spec, **options):
        calls.append((spec, options))
        return HashEmbedder(int(spec))

    register_backend("fake", factory)
    assert "fake" in available_backends()
    emb = load_embedder("fake:4", seed=3)
    assert emb.dim == 4 and calls == [("4", {"seed": 3})]
    assert load_embedder("fake:4", seed=3) is emb and len(calls) == 1


def test_registering_twice_needs_replace(restore_registry):
    register_backend("twice", lambda spec: HashEmbedder(2))
    with pytest.raises(BadInputError):
        register_backend("twice", lambda spec: HashEmbedder(3))
    register_backend("twice", lambda spec: HashEmbedder(3), replace=True)
    assert load_embedder("twice:x").dim == 3


@pytest.mark.parametrize("prefix", ["", "a:b", "sp ace"])
def test_invalid_prefix(prefix):
    with pytest.raises(BadInputError):
        register_backend(prefix, lambda spec: None)
