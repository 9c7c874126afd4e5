"""Bearer tokens: stored only as SHA-256 hashes, checked in constant time, two roles.

A tokens file holds one token per line, ``sha256:<64 hex> <role> [label]`` (``#`` starts a
comment); roles are ``read`` (search, thumbnails, classify) and ``admin`` (also add / remove).
Tokens are 256-bit random strings, so a plain SHA-256 is enough: there is nothing to brute-force.
The file is re-read when it changes, so revoking a token needs no restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from jointspace.errors import BadInputError, JointspaceError

READ = "read"
ADMIN = "admin"
ROLES = (READ, ADMIN)
TOKEN_PREFIX = "jst_"
log = logging.getLogger("jointspace.serve")


class UnauthorizedError(JointspaceError):
    """No token, or a token that is not in the tokens file (401)."""

    http_status = 401


class ForbiddenError(JointspaceError):
    """A valid token whose role does not allow this request (403)."""

    http_status = 403


class TokensUnavailableError(JointspaceError):
    """The tokens file went missing or bad while serving: every request is refused (500).

    The message names no path or line (the server log has them); failing closed, since a token
    revoked by the edit that broke the file must not stay valid.
    """

    http_status = 500


@dataclass(frozen=True)
class TokenEntry:
    digest: str  # hex SHA-256 of the token
    role: str
    label: str = ""


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token, as stored in the tokens file."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_tokens(text: str, source: str = "tokens file") -> list[TokenEntry]:
    """Parse the lines of a tokens file; raise BadInputError naming the bad line."""
    entries = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        digest = parts[0].removeprefix("sha256:").lower() if parts[0].startswith("sha256:") else ""
        role = parts[1] if len(parts) > 1 else ""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or role not in ROLES:
            raise BadInputError(
                f"{source}, line {n}: expected 'sha256:<64 hex digits> read|admin [label]'",
                hint="create tokens with `jointspace token create --role read|admin --file F`",
            )
        entries.append(TokenEntry(digest, role, parts[2] if len(parts) > 2 else ""))
    return entries


class TokenStore:
    """The hashed tokens of one file; ``role_for(token)`` answers which role a token has."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[TokenEntry] = []
        self._reload()  # at startup the admin sees the path and line of a bad file
        if not self._entries:
            raise BadInputError(f"{self.path} holds no tokens",
                                hint="add one with `jointspace token create --role admin "
                                     f"--file {self.path}`")

    @property
    def entries(self) -> list[TokenEntry]:
        """The current entries, re-read if the file changed; TokensUnavailableError if it broke."""
        try:
            self._reload()
        except BadInputError as exc:
            log.error("tokens file unusable, refusing every request: %s", exc.message)
            raise TokensUnavailableError(
                "the service cannot check access tokens right now",
                hint="ask the service's admin: the server log has the details") from None
        return list(self._entries)

    def has_role(self, role: str) -> bool:
        return any(e.role == role for e in self.entries)

    def role_for(self, token: str) -> str | None:
        """The role of ``token``, or None. Every entry is compared, in constant time each."""
        digest = hash_token(token)
        role = None
        for entry in self.entries:
            if hmac.compare_digest(digest, entry.digest):
                role = entry.role
        return role

    def _reload(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise BadInputError(f"cannot read tokens file {self.path}: {exc.strerror}",
                                hint="create it with `jointspace token create --file F`") from exc
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    text = self.path.read_text("utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise BadInputError(f"cannot read tokens file {self.path}: {exc}") from exc
                self._entries = parse_tokens(text, str(self.path))
                self._stamp = stamp


def create_token(path: Path, role: str, label: str = "") -> str:
    """Append a new token's hash to ``path`` (created 0600) and return the token itself."""
    if role not in ROLES:
        raise BadInputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if any(c in label for c in "\r\n#"):
        raise BadInputError("a token label cannot contain newlines or '#'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    line = f"sha256:{hash_token(token)} {role}" + (f" {label.strip()}" if label.strip() else "")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if f.tell() == 0:
            f.write("# jointspace access tokens (hashes only): sha256:<hex> <read|admin> [label]\n")
        f.write(line + "\n")
    return token


def authorize(tokens: TokenStore | None, authorization: str | None, needed: str) -> str:
    """The caller's role for a request needing ``needed``; raise 401 / 403 otherwise.

    Without a tokens file the service is loopback-only and read-only: reads are open, writes
    are refused (there is no admin to authenticate).
    """
    if tokens is None:
        if needed == ADMIN:
            raise ForbiddenError(
                "writes are disabled: the service runs without access tokens",
                hint="create an admin token with `jointspace token create --role admin --file "
                     "tokens.txt` and restart with --tokens-file tokens.txt",
            )
        return READ
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise UnauthorizedError("this service needs an access token",
                                hint="send the header 'Authorization: Bearer <token>'")
    role = tokens.role_for(credential.strip())
    if role is None:
        raise UnauthorizedError("the access token is not valid",
                                hint="ask the service's admin for a token")
    if needed == ADMIN and role != ADMIN:
        raise ForbiddenError("this token is read-only", hint="writes need an admin token")
    return role
