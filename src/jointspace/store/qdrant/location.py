"""Qdrant locations: ``qdrant://HOST:PORT/NAME``, ``qdrants://...`` (TLS), ``qdrant+local:PATH``,
``qdrant+edge:PATH``.

``qdrant+local:PATH[#NAME]`` is qdrant-client's embedded local mode (one process at a time, exact
brute-force search, everything in memory): for trying Qdrant without a server and for tests, not
for production. ``qdrant+edge:PATH[#NAME]`` is Qdrant's embedded engine (qdrant-edge-py: real
segments and indexes on disk, one process at a time; see ``edge.py``). The API key comes from the
options or ``$JOINTSPACE_QDRANT_API_KEY`` and is never part of a printed location.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jointspace.errors import (
    BadInputError,
    CollectionError,
    CollectionLockedError,
    JointspaceError,
)
from jointspace.store.registry import API_KEY_ENV, StoreOptions, location_label

DEFAULT_PORT = 6333
LOCAL_NAME = "jointspace"  # the collection name in a qdrant+local folder without #NAME


@dataclass(frozen=True)
class Target:
    """Where one jointspace collection lives in Qdrant."""

    name: str
    url: str | None = None  # a server
    path: Path | None = None  # local mode or the embedded engine
    engine: str = "local"  # for a path: "local" (qdrant-client) or "edge" (qdrant-edge-py)

    @property
    def label(self) -> str:
        if self.path is None:
            return f"{self.url}/{self.name}"
        return f"qdrant+{self.engine}:{self.path}#{self.name}"


def parse_location(location: str) -> Target:
    """The Qdrant target named by ``location`` (BadInputError if it is malformed)."""
    for engine in ("local", "edge"):
        if location.startswith(f"qdrant+{engine}:"):
            path, _, name = location[len(f"qdrant+{engine}:"):].partition("#")
            if not path:
                raise BadInputError(f"{location!r} names no folder", hint=f"qdrant+{engine}:PATH")
            return Target(name=_checked_name(name or LOCAL_NAME, location), path=Path(path),
                          engine=engine)
    parts = urlsplit(location)
    if parts.scheme not in ("qdrant", "qdrants") or not parts.hostname:
        raise BadInputError(f"cannot read the Qdrant location {location_label(location)!r}",
                            hint="use qdrant://HOST:6333/NAME or qdrants://HOST:6333/NAME")
    if parts.username or parts.password:
        raise BadInputError("do not put credentials in a collection location",
                            hint=f"pass --api-key or set {API_KEY_ENV}")
    name = parts.path.strip("/")
    if not name or "/" in name:
        raise BadInputError(f"{location!r} names no collection",
                            hint="put the collection name after the host: qdrant://HOST:6333/NAME")
    scheme = "https" if parts.scheme == "qdrants" else "http"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Target(name=_checked_name(name, location),
                  url=f"{scheme}://{host}:{parts.port or DEFAULT_PORT}")


def connect(target: Target, options: StoreOptions) -> Any:
    """A ``QdrantClient`` for ``target``; errors say what to do."""
    from qdrant_client import QdrantClient

    if target.path is not None and target.engine == "edge":
        from jointspace.store.qdrant.edge import EdgeClient

        return EdgeClient(target.path)
    if target.path is not None:
        try:
            target.path.mkdir(parents=True, exist_ok=True)
            return QdrantClient(path=str(target.path))
        except RuntimeError as exc:  # portalocker: another client holds the folder
            raise CollectionLockedError(
                f"{target.label} is open in another process (qdrant+local allows one)",
                hint="close the other process, or use a Qdrant server for concurrent access",
            ) from exc
        except OSError as exc:
            raise CollectionError(f"cannot open {target.label}: {exc.strerror or exc}") from exc
    api_key = options.api_key or os.environ.get(API_KEY_ENV) or None
    # no version handshake on connect: an unreachable server then fails once, with our hint
    return QdrantClient(url=target.url, api_key=api_key, timeout=60,
                        https=target.url.startswith("https"), check_compatibility=False)


@contextmanager
def translated(target: Target) -> Iterator[None]:
    """Client and transport failures leave as JointspaceErrors; ours pass through."""
    from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

    try:
        yield
    except JointspaceError:
        raise
    except (UnexpectedResponse, ResponseHandlingException, ConnectionError, TimeoutError) as exc:
        raise server_error(exc, target) from exc


def server_error(exc: Exception, target: Target) -> JointspaceError:
    """A client or transport failure as a JointspaceError with a hint (never the API key)."""
    status = getattr(exc, "status_code", None)
    if status in (401, 403):
        return CollectionError(f"{target.label} refused the API key ({status})",
                               hint=f"pass the right --api-key or set {API_KEY_ENV}")
    if status is not None:
        reason = getattr(exc, "reason_phrase", "") or ""
        return CollectionError(f"{target.label} answered {status} {reason}".strip(),
                               hint="check the server's log; `jointspace check` the collection")
    return CollectionError(f"cannot reach Qdrant at {target.label}: {type(exc).__name__}: {exc}",
                           hint="is the server running? e.g. `docker run -p 6333:6333 "
                                "qdrant/qdrant`; check the host, port and TLS (qdrants://)")


def _checked_name(name: str, location: str) -> str:
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise BadInputError(f"{name!r} in {location!r} is not a valid collection name",
                            hint="use letters, digits, -, _ and .")
    return name
