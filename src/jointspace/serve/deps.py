"""FastAPI dependencies shared by the routes: the state, the caller's role, the collection, ids."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import UploadFile

from jointspace.errors import BadInputError, NotFoundError
from jointspace.serve.auth import ADMIN, READ, authorize
from jointspace.serve.limits import too_large
from jointspace.serve.state import Served, ServeState

_bearer = HTTPBearer(auto_error=False, description="A token from `jointspace token create`")
_ITEM_ID = re.compile(r"[0-9]+")
MAX_ITEM_ID = 2**63 - 1  # SQLite ids are signed 64-bit
LOCK_TIMEOUT_S = 5.0  # how long a write waits for another writer before answering 409
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]  # documents the scheme


def get_state(request: Request) -> ServeState:
    return request.app.state.jointspace


def _authorization(request: Request) -> str | None:
    return request.headers.get("authorization")


def require_read(request: Request, _: Bearer) -> str:
    """Any valid token (or none at all when the service runs without tokens)."""
    return authorize(get_state(request).tokens, _authorization(request), READ)


def require_admin(request: Request, _: Bearer) -> str:
    """An admin token."""
    return authorize(get_state(request).tokens, _authorization(request), ADMIN)


def served_collection(name: str, request: Request) -> Served:
    """The collection named in the path; 404 for anything else."""
    return get_state(request).get(name)


def check_item_ids(ids: list[int], what: str = "ids") -> list[int]:
    """400 for ids no item can have (SQLite ids are signed 64-bit), instead of an overflow."""
    if any(not 0 <= i <= MAX_ITEM_ID for i in ids):
        raise BadInputError(f"{what} must be item ids, integers from 0 to {MAX_ITEM_ID}",
                            hint="use the ids search returns")
    return ids


def parse_item_id(item_id: str) -> int:
    """An item id is digits only; anything else (paths, ``..``, NUL, ...) is simply not found,
    and digits beyond 64 bits are a bad request (400), never an overflow."""
    if not _ITEM_ID.fullmatch(item_id):
        raise NotFoundError("no such item", hint="item ids are the integers search returns")
    if len(item_id.lstrip("0")) > len(str(MAX_ITEM_ID)):  # before int(): no 10,000-digit parse
        return check_item_ids([MAX_ITEM_ID + 1], "item ids")[0]
    return check_item_ids([int(item_id)], "item ids")[0]


def check_writable(served: Served) -> None:
    """400 for a write to a collection the service opened read-only."""
    if not served.writable:
        raise BadInputError(f"collection {served.name!r} is served read-only",
                            hint="collections are writable when the service starts with a "
                                 "tokens file holding an admin token (--tokens-file)")


async def check_file_count(request: Request, allowed: int) -> None:
    """413 when a multipart request carries more than ``allowed`` files."""
    if not request.headers.get("content-type", "").startswith("multipart/"):
        return
    form = await request.form()
    n = sum(isinstance(v, UploadFile) for _, v in form.multi_items())
    if n > allowed:
        raise too_large("the request", n, allowed, "files")


# What routes declare: the caller's role and the collection named in the path.
Reader = Annotated[str, Depends(require_read)]
Admin = Annotated[str, Depends(require_admin)]
Col = Annotated[Served, Depends(served_collection)]
