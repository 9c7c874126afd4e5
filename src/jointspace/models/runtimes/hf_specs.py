"""Describing the towers of loaded ``hf:`` and ``sbert:`` models for export (needs torch)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.models.base import IMAGE, TEXT
from jointspace.models.runtimes.export import TowerSpec
from jointspace.models.runtimes.probes import PROBE_TEXTS, probe_images
from jointspace.models.runtimes.tokenizer import FastTokenizer, TokenizerSettings

log = logging.getLogger(__name__)
_SEQ = {0: "batch", 1: "tokens"}


def hf_specs(embedder: Any) -> list[TowerSpec]:
    """Image and text tower specs of a loaded ``HFEmbedder``."""
    specs = []
    model = embedder.model
    if IMAGE in embedder.modalities:
        prep = embedder.image_preprocessor()
        batch = np.stack([prep(im) for im in probe_images(16)])
        arrays = prep.layout.unpack(batch) if prep.layout else {"pixel_values": batch}
        specs.append(TowerSpec(
            IMAGE, model.get_image_features, model,
            example={k: v[:2] for k, v in arrays.items()},
            dynamic={k: {0: "batch"} for k in arrays},
            probes=[arrays], float_dtype=getattr(model, "dtype", None)))
    if TEXT in embedder.modalities:
        specs.append(_text_spec(model.get_text_features, model, _hf_tokenize(embedder)))
    return specs


def _hf_tokenize(embedder: Any) -> Any:
    from jointspace.models.hf_inputs import text_inputs

    def tokenize(texts: list[str]) -> dict[str, np.ndarray]:
        enc = text_inputs(embedder.tokenizer, texts, embedder._text_kwargs)
        return {k: v.numpy() for k, v in enc.items()}

    return tokenize


def hf_base(embedder: Any, model_dir: Path) -> dict[str, Any]:
    """What the manifest must hold to rebuild an ``hf:`` embedder without transformers."""
    base: dict[str, Any] = {"name": embedder.name, "dim": embedder.dim, "source": str(model_dir),
                            "modalities": sorted(embedder.modalities)}
    if IMAGE in embedder.modalities:
        prep = embedder.image_preprocessor()
        plan = prep.fast.to_dict() if prep.fast is not None and prep.layout is None else None
        base[IMAGE] = {"plan": plan, "input_size": prep.input_size}
    if TEXT in embedder.modalities:
        kwargs = embedder._text_kwargs
        settings = _settings(model_dir, embedder.tokenizer, kwargs.get("max_length"),
                             kwargs.get("padding") == "max_length")
        base[TEXT] = {"tokenizer": _verified(settings, _hf_tokenize(embedder))}
    return base


def sbert_specs(model: Any) -> list[TowerSpec]:
    """The one (text) tower of a SentenceTransformer: tokenizer -> pooled, normalised vector."""
    def fn(input_ids: Any, attention_mask: Any) -> Any:
        return model({"input_ids": input_ids, "attention_mask": attention_mask})[
            "sentence_embedding"]

    return [_text_spec(fn, model, _sbert_tokenize(model))]


def _sbert_tokenize(model: Any) -> Any:
    def tokenize(texts: list[str]) -> dict[str, np.ndarray]:
        enc = model.tokenize(texts)
        return {k: enc[k].numpy() for k in ("input_ids", "attention_mask")}

    return tokenize


def sbert_base(embedder: Any, model_dir: Path) -> dict[str, Any]:
    """What the manifest must hold to rebuild an ``sbert:`` embedder without the library."""
    model = embedder.model
    settings = _settings(model_dir, model.tokenizer, model.max_seq_length, False)
    return {"name": embedder.name, "dim": embedder.dim, "source": str(model_dir),
            "modalities": [TEXT], TEXT: {"tokenizer": _verified(settings, _sbert_tokenize(model))}}


def _text_spec(fn: Any, owner: Any, tokenize: Any) -> TowerSpec:
    example = tokenize(PROBE_TEXTS[:2])
    probes = [tokenize(PROBE_TEXTS), tokenize(PROBE_TEXTS[:5])]
    return TowerSpec(TEXT, fn, owner, example=example, dynamic={k: _SEQ for k in example},
                     probes=probes)


def _settings(model_dir: Path, tokenizer: Any, max_length: int | None,
              fixed: bool) -> TokenizerSettings | None:
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file() or tokenizer.pad_token is None:
        return None
    return TokenizerSettings(str(path), int(max_length) if max_length else None, bool(fixed),
                             int(tokenizer.pad_token_id), str(tokenizer.pad_token),
                             ("input_ids", "attention_mask"))


def _verified(settings: TokenizerSettings | None, reference: Any) -> dict[str, Any] | None:
    """``settings`` as data if the tokenizers library reproduces ``reference`` exactly, else None."""
    if settings is None:
        return None
    long = " ".join(PROBE_TEXTS) * 8  # past every truncation limit
    texts = [*PROBE_TEXTS, long]
    want = reference(texts)
    got = FastTokenizer(settings)(texts)
    for key in settings.inputs:
        if key not in want or want[key].shape != got[key].shape or (want[key] != got[key]).any():
            log.info("tokenizers cannot reproduce the %s of %s; the text tower keeps "
                     "transformers' tokenizer", key, settings.file)
            return None
    return settings.to_dict()
