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


def absolute_spec(spec: str) -> str:
    """``spec`` made absolute when it names a local directory (``./m``, ``~/m``, ``runs/x``), so
    a collection's stored model name loads from any working directory; hub ids are unchanged."""
    if spec.startswith(("/", "~", ".")) or is_local_dir(spec):
        return os.path.abspath(os.path.expanduser(spec))
    return spec


def check_hub_reachable(prefix: str, spec: str) -> None:
    """Fail in seconds, not after a minute of retries, when a hub id is neither cached nor
    downloadable (no network, no HF_HUB_OFFLINE). A local directory or a cached id passes."""
    if is_local_dir(spec) or _env_true("HF_HUB_OFFLINE") or _proxied():
        return  # offline mode fails fast by itself; a proxy we cannot probe directly
    try:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("config.json", "modules.json", "open_clip_config.json"):
            if isinstance(try_to_load_from_cache(spec, filename), str):
                return
    except Exception:  # noqa: BLE001 - an invalid repo id: let the loader say what is wrong
        return
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    import socket

    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as exc:
        raise unavailable(prefix, spec, exc) from None


def _env_true(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


def _proxied() -> bool:
    return any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                                           "all_proxy", "HTTP_PROXY", "http_proxy"))


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
    offline = _env_true("HF_HUB_OFFLINE")
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
