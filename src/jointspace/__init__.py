"""jointspace: embed, index, search, evaluate and train joint image-text embedding spaces."""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["Collection", "Hit", "IndexReport", "__version__", "load_embedder"]

if TYPE_CHECKING:
    from jointspace.models import load_embedder
    from jointspace.query import Collection, Hit, IndexReport


def __getattr__(name: str):
    # Lazy re-exports keep `import jointspace` (and `jointspace --help`) light.
    if name in ("Collection", "Hit", "IndexReport"):
        import jointspace.query as query

        return getattr(query, name)
    if name == "load_embedder":
        from jointspace.models import load_embedder

        return load_embedder
    raise AttributeError(f"module 'jointspace' has no attribute {name!r}")
