"""Service settings (one dataclass, a comment per field) and the bind-address safety check."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from jointspace.errors import BadInputError

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
ANY_ORIGIN = frozenset({"*", "null"})  # "null": sandboxed frames and file:// pages, i.e. anyone
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


@dataclass
class ServeSettings:
    """How ``jointspace serve`` runs; the defaults are the safe ones."""

    host: str = "127.0.0.1"  # other addresses are refused unless tokens are configured
    port: int = 8000
    tokens_file: Path | None = None  # lines "sha256:<hex> <read|admin> [label]"
    cors_origins: list[str] = field(default_factory=list)  # empty = CORS off
    allowed_hosts: list[str] = field(default_factory=list)  # Host headers accepted; see hosts()
    max_body_bytes: int = 16 * 1024 * 1024  # whole request body (413 above)
    max_image_pixels: int = 40_000_000  # per uploaded image, checked from the header (413 above)
    max_files: int = 16  # uploaded files per request (413 above)
    max_k: int = 200  # results per page
    max_negatives: int = 8  # negative terms per query
    max_connections: int = 512  # open connections; above it the oldest idle one is closed
    max_connections_per_client: int = 64  # likewise per address; 0 = no cap (behind a proxy)
    header_timeout_s: float = 10.0  # to send a request's line and headers (408 and closed after)
    body_timeout_s: float = 60.0  # to send a declared body, from its headers (408 after)
    send_timeout_s: float = 30.0  # a response the client stops reading is dropped after this
    queue_size: int = 64  # model requests admitted at once (running + waiting); 503 above
    search_threads: int = 16  # threads running admitted searches; mostly waiting on the model
    # worker, and the more wait together the larger its batches (see benchmarks/serve_load.py)
    max_text_batch: int = 64  # most texts embedded in one model call
    thumbnail_sizes: tuple[int, ...] = (128, 256, 512)  # the only sizes served (bounds the cache)
    thumbnail_cache_bytes: int = 64 * 1024 * 1024  # in-memory LRU of encoded thumbnails
    hide_paths: bool = False  # results carry file names only, never the server's absolute paths
    log_level: str = "info"
    runtime: str | None = None  # model runtime (auto, torch, bf16, onnx, onnx-int8); None: as indexed

    def hosts(self) -> list[str]:
        """Host headers to accept: anything once tokens guard the API, else loopback names only.

        Without tokens the API is open to whoever reaches it, so a strict Host check stops DNS
        rebinding (a web page re-pointing its own name at 127.0.0.1 to read the API).
        """
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        if self.tokens_file is not None:
            return ["*"]
        return sorted(LOOPBACK_NAMES | {self.host})


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, has_tokens: bool) -> None:
    """Refuse to listen beyond loopback unless the API is guarded by tokens."""
    if not is_loopback(host) and not has_tokens:
        raise BadInputError(
            f"refusing to serve on {host!r} without access tokens: anyone who can reach it could "
            "read the collection",
            hint="keep the default --host 127.0.0.1, or create tokens with `jointspace token "
            "create --role read --file tokens.txt` and pass --tokens-file tokens.txt",
        )


def check_cors(origins: list[str], has_tokens: bool) -> None:
    """Refuse CORS origins that would open the API to any web page, or that can never match.

    Without tokens the API has no other guard than the browser's same-origin rule: any page the
    user visits could read the collections through ``*``. With tokens, ``*`` is safe (a page
    must hold a token, and none are sent as cookies).
    """
    for origin in origins:
        if origin in ANY_ORIGIN:
            if not has_tokens:
                raise BadInputError(
                    f"refusing --cors-origin {origin!r} without access tokens: any web page "
                    "could read the collections",
                    hint="list the exact origins (https://app.example), or create tokens with "
                         "`jointspace token create` and pass --tokens-file",
                )
        elif not _ORIGIN.fullmatch(origin):
            raise BadInputError(
                f"--cors-origin {origin!r} is not a web origin and would never match",
                hint="give scheme://host[:port] with no path or trailing slash, e.g. "
                     "https://app.example",
            )
