"""Shared helpers for backends that load from the Hugging Face hub or a local directory."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from jointspace.errors import ModelUnavailableError


def is_local_dir(spec: str) -> bool:
    """True when ``spec`` names an existing directory (so it is not a hub id)."""
    return Path(os.path.expanduser(spec)).is_dir()


def default_device() -> str:
    """``"cuda"`` when a GPU is usable, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def unavailable(prefix: str, spec: str, exc: BaseException) -> ModelUnavailableError:
    """The error for a model that cannot be loaded, with what to do next."""
    name = f"{prefix}:{spec}"
    if is_local_dir(spec):
        return ModelUnavailableError(
            f"cannot load model {name!r} from the local directory: {_first_line(exc)}",
            hint="check that the directory holds a complete save_pretrained() copy "
            "(config, weights, tokenizer / image processor files)",
        )
    # Hub ids are "name" or "org/name"; anything else was meant as a path.
    if spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or "\\" in spec:
        return ModelUnavailableError(
            f"model {name!r}: no such directory",
            hint=f"point --model at an existing directory, e.g. {prefix}:/path/to/dir",
        )
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
    why = "offline (HF_HUB_OFFLINE is set)" if offline else "the hub could not be reached"
    return ModelUnavailableError(
        f"model {name!r} is not in the local Hugging Face cache and {why}: {_first_line(exc)}",
        hint=f"download it where there is internet (`hf download {spec}`) and copy the cache, "
        f"and/or point --model at a local directory (--model {prefix}:/path/to/dir)",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence transformers' per-load progress bars (they clutter CLI output), then restore."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def local_model_dir(spec: str) -> Path | None:
    """The local directory holding ``spec``: itself, or its snapshot in the hub cache (offline)."""
    if is_local_dir(spec):
        return Path(os.path.expanduser(spec)).resolve()
    if spec.startswith(("/", ".", "~")):
        return None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (or not a hub id): the full load reports it
        return None
