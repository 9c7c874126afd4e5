"""Registry of embedding backends: a dict ``prefix -> factory``, plus a per-name model cache.

A name looks like ``<prefix>:<spec>`` (``hf:laion/CLIP-ViT-B-32-laion2B-s34B-b79K``,
``sbert:all-MiniLM-L6-v2``, ``hash:64``). The factory is called as ``factory(spec, **options)``
and must return an :class:`~jointspace.models.base.Embedder` whose ``name`` is the full
``<prefix>:<spec>``. Built-in backends are registered through :func:`register_backend`, exactly
like external ones; their heavy imports happen inside the factory, so this module stays light.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from jointspace.errors import BadInputError, ModelUnavailableError
from jointspace.models.base import Embedder
from jointspace.runtime import configure_torch

BackendFactory = Callable[..., Embedder]
# backends whose factory takes runtime= (see jointspace.models.runtimes); others run natively
RUNTIME_BACKENDS = {"hf", "sbert"}

_BACKENDS: dict[str, BackendFactory] = {}
_CACHE: dict[tuple[str, tuple[tuple[str, Any], ...]], Embedder] = {}
_LOCK = threading.RLock()


def register_backend(prefix: str, factory: BackendFactory, *, replace: bool = False) -> None:
    """Make ``<prefix>:<spec>`` names load through ``factory(spec, **options)``."""
    if not prefix or ":" in prefix or not prefix.replace("-", "").replace("_", "").isalnum():
        raise BadInputError(
            f"invalid backend prefix {prefix!r}", hint="use letters, digits, - or _"
        )
    with _LOCK:
        if prefix in _BACKENDS and not replace and _BACKENDS[prefix] is not factory:
            raise BadInputError(
                f"backend prefix {prefix!r} is already registered",
                hint="pass replace=True to override it",
            )
        _BACKENDS[prefix] = factory
        # Models loaded by the old factory must not outlive it.
        for key in [k for k in _CACHE if k[0].startswith(prefix + ":")]:
            del _CACHE[key]


def available_backends() -> list[str]:
    """The registered prefixes, sorted."""
    with _LOCK:
        return sorted(_BACKENDS)


def parse_model_name(name: str) -> tuple[str, str]:
    """Split ``"<prefix>:<spec>"``; raise ModelUnavailableError for an unknown prefix."""
    prefix, sep, spec = name.partition(":")
    known = available_backends()
    if not sep or prefix not in known:
        raise ModelUnavailableError(
            f"unknown model name {name!r}: no backend for prefix {prefix!r}"
            if sep
            else f"model name {name!r} has no backend prefix",
            hint="name models as <backend>:<model>; known backends: "
            + ", ".join(f"{p}:" for p in known)
            + " (e.g. hf:laion/CLIP-ViT-B-32-laion2B-s34B-b79K, sbert:all-MiniLM-L6-v2, hash:64)",
        )
    if not spec:
        raise BadInputError(
            f"model name {name!r} is missing the part after {prefix + ':'!r}",
            hint=f"e.g. {prefix}:<model id or directory>",
        )
    return prefix, spec


_HUB_BACKENDS = ("hf", "sbert")  # specs are a hub id or a directory


def canonical_model_name(name: str) -> str:
    """``name`` with a relative model directory made absolute (``hf:./m`` -> ``hf:/abs/m``), so
    the name a collection stores works from any directory; other names are unchanged."""
    prefix, sep, spec = name.partition(":")
    if sep and spec and prefix in _HUB_BACKENDS:
        from jointspace.models._hub import absolute_spec

        return f"{prefix}:{absolute_spec(spec)}"
    return name


def load_embedder(name: str, *, cache: bool = True, **options: Any) -> Embedder:
    """Load (or return the in-process cached) embedder for a registry name.

    ``options`` go to the backend factory (e.g. ``device="cpu"``); they are part of the cache
    key, so the same name with different options loads separately. A relative directory is
    resolved first (see :func:`canonical_model_name`); a hub id that is neither cached nor
    reachable fails at once. ``runtime`` (``auto``,
    ``torch``, ``bf16``, ``onnx``, ``onnx-int8``) reaches only backends in ``RUNTIME_BACKENDS``;
    the others accept ``auto`` and ``torch`` and run as they always do.
    """
    name = canonical_model_name(name)
    prefix, spec = parse_model_name(name)
    options = _runtime_option(prefix, name, options)
    key = (name, tuple(sorted(options.items(), key=lambda kv: kv[0])))
    with _LOCK:
        if cache and key in _CACHE:
            return _CACHE[key]
        factory = _BACKENDS[prefix]
        if prefix in _HUB_BACKENDS and not _bundled(prefix, spec):
            from jointspace.models._hub import check_hub_reachable

            check_hub_reachable(prefix, spec)
        configure_torch()
        # Loading under the lock means concurrent requests for one model load it once.
        embedder = factory(spec, **options)
        if cache:
            _CACHE[key] = embedder
        return embedder


def _runtime_option(prefix: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
    if options.get("runtime") is None:
        options.pop("runtime", None)
        return options
    from jointspace.models.runtimes import AUTO, TORCH, check_runtime

    runtime = check_runtime(options["runtime"])
    if prefix in RUNTIME_BACKENDS:
        return options | {"runtime": runtime}
    if runtime not in (AUTO, TORCH):
        raise BadInputError(f"model {name!r} has no {runtime!r} runtime",
                            hint=f"runtimes other than auto/torch exist for "
                                 f"{', '.join(sorted(RUNTIME_BACKENDS))}: models")
    return {k: v for k, v in options.items() if k != "runtime"}


def _bundled(prefix: str, spec: str) -> bool:
    if prefix != "sbert":
        return False
    from jointspace.models.sbert import resolve_sbert_source

    return resolve_sbert_source(spec) != spec


def clear_cache() -> None:
    """Forget every cached model (tests, or to free memory)."""
    with _LOCK:
        _CACHE.clear()


def lazy_factory(target: str) -> BackendFactory:
    """A factory that imports ``"package.module:function"`` only when first called."""
    module_name, _, attr = target.partition(":")

    def factory(spec: str, **options: Any) -> Embedder:
        return getattr(importlib.import_module(module_name), attr)(spec, **options)

    factory.__qualname__ = f"lazy_factory({target!r})"
    return factory


_BUILTINS = {
    "hf": "jointspace.models.hf:load_hf",
    "sbert": "jointspace.models.sbert:load_sbert",
    "openclip": "jointspace.models.openclip:load_openclip",
    "hash": "jointspace.models.hashing:load_hash",
}
for _prefix, _target in _BUILTINS.items():
    register_backend(_prefix, lazy_factory(_target))
