"""Where ingest's decode and embed stages run: in this process (``local``) or on Ray (``ray``).

An engine turns the items a sync must (re-)embed into :class:`EmbeddedBatch` records, in order;
``query.indexing.sync_source`` stays the single writer that turns them into store batches, so every
engine gives the same report, the same per-file error records and the same resume-after-a-kill.
The Ray engine (``engines.ray``) is imported only when asked for: ``ray`` is an extra.
"""

from __future__ import annotations

from jointspace.engines.base import Embedded, EmbeddedBatch, Engine, embed_prepared
from jointspace.engines.local import LocalEngine

__all__ = ["Embedded", "EmbeddedBatch", "Engine", "LocalEngine", "embed_prepared", "load_engine"]

ENGINES = ("local", "ray")


def load_engine(name: str, **options) -> Engine:
    """``local`` or ``ray`` (options: ``address``, ``actors``, ``num_gpus``)."""
    if name == "local":
        return LocalEngine(**options)
    if name == "ray":
        from jointspace.engines.ray import RayEngine

        return RayEngine(**options)
    from jointspace.errors import BadInputError

    raise BadInputError(f"unknown engine {name!r}", hint=f"use one of: {', '.join(ENGINES)}")
