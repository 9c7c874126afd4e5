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


# --- issue 12: relative model directories, offline fail-fast ---------------------------------
def test_a_relative_model_directory_is_stored_absolute(tmp_path, tiny_clip_dir, monkeypatch):
    from jointspace.query import Collection

    monkeypatch.chdir(tiny_clip_dir.parent)
    relative = f"hf:./{tiny_clip_dir.name}"
    with Collection.create(tmp_path / "col", relative) as col:
        assert col.store.model == f"hf:{tiny_clip_dir.resolve()}"
        col.add_texts(["a photo of a dog"])
    with Collection.open(tmp_path / "col", model=relative):  # the same model, said relatively
        pass
    monkeypatch.chdir(tmp_path)
    with Collection.open(tmp_path / "col") as col:
        assert col.search("a photo of a dog", k=1)[0].text == "a photo of a dog"


def test_an_unreachable_hub_fails_before_any_download_attempt(monkeypatch):
    import jointspace.models.hf as hf
    from jointspace.errors import ModelUnavailableError
    from jointspace.models import load_embedder

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy",
                "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    calls = []
    monkeypatch.setattr(hf, "load_hf", lambda spec, **kw: calls.append(spec))
    with pytest.raises(ModelUnavailableError) as exc:
        load_embedder("hf:nobody/not-a-cached-model", cache=False)
    assert calls == [] and "could not be reached" in exc.value.message
    assert "hf:/path/to/dir" in exc.value.hint
