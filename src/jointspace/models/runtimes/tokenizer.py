"""Tokenising with the ``tokenizers`` library alone (no transformers, no torch): the cold path.

``TokenizerSettings`` is plain data recorded in the export manifest; it reproduces the
transformers tokenizer call jointspace makes for the model (checked token-for-token at export).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TokenizerSettings:
    file: str  # tokenizer.json of the model
    max_length: int | None  # truncate to this many tokens (None: no limit)
    fixed_length: bool  # pad every text to max_length (SigLIP) instead of the batch's longest
    pad_id: int
    pad_token: str
    inputs: tuple[str, ...]  # which of input_ids / attention_mask the model takes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"inputs": list(self.inputs)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TokenizerSettings:
        return cls(**(d | {"inputs": tuple(d["inputs"])}))


class FastTokenizer:
    """``texts -> {"input_ids", "attention_mask"}`` (int64 numpy) per ``TokenizerSettings``."""

    def __init__(self, settings: TokenizerSettings) -> None:
        from tokenizers import Tokenizer

        self.settings = settings
        self.max_tokens = settings.max_length
        self._tok = Tokenizer.from_file(str(Path(settings.file)))
        self._tok.no_padding()
        self._tok.no_truncation()
        self._counter = self._tok  # counts use the untruncated tokenizer
        self._tok = Tokenizer.from_str(self._counter.to_str())
        if settings.max_length:
            self._tok.enable_truncation(settings.max_length)
        self._tok.enable_padding(pad_id=settings.pad_id, pad_token=settings.pad_token,
                                 length=settings.max_length if settings.fixed_length else None)

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        enc = self._tok.encode_batch(texts)
        out = {"input_ids": np.array([e.ids for e in enc], np.int64),
               "attention_mask": np.array([e.attention_mask for e in enc], np.int64)}
        return {k: v for k, v in out.items() if k in self.settings.inputs}

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens per text, special tokens included, before truncation."""
        return [len(e.ids) for e in self._counter.encode_batch(texts)]
