"""Ids for texts added without ids: by content, so one call never replaces another's texts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from jointspace.store.base import Store


def content_id(text: str) -> str:
    """The id of a text given without one: a hash of its content."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def text_ids(store: Store, texts: Sequence[str], source: str) -> list[str]:
    """One id per text: ``content_id(text)``, except that a text still stored under an old
    position key (``source#<n>``, how texts without ids were keyed before) keeps that id, so
    re-adding it to an older collection neither duplicates it nor leaves the old item behind."""
    legacy = [k for k in store.keys_of_source(source) if k[len(source) + 1:].isdigit()]
    by_text = {fp.text: key[len(source) + 1:]
               for key, fp in sorted(store.fingerprints(legacy).items()) if fp.text is not None}
    return [by_text.get(t) or content_id(t) for t in texts]
