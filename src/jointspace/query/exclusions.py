"""Items removed by hand stay removed when their folder or manifest is indexed again.

``remove`` records each removed item's key under its source with what its file looked like
(size, mtime, sha256). A later sync of that source skips the key while the file is unchanged;
a changed file is indexed again and its exclusion dropped. Kept as derived state (``Store``'s
``read_state`` / ``write_state``) in one JSON blob: ``{source: {key: [size, mtime_ns, sha256]}}``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence

from jointspace.ingest.items import SourceItem

STATE = "excluded"
Exclusions = dict[str, dict[str, list]]


def load(store) -> Exclusions:
    blob = store.read_state(STATE)
    if blob is None:
        return {}
    try:
        data = json.loads(blob.data)
    except ValueError:  # unreadable derived state: forgetting exclusions is the safe direction
        return {}
    return data if isinstance(data, dict) else {}


def record(store, ids: Sequence[int]) -> int:
    """Remember the items ``ids`` (about to be removed) as excluded; caller holds the writer."""
    items = store.get(list(ids))
    if not items:
        return 0
    prints = store.fingerprints([it.key for it in items])
    data = load(store)
    for it in items:
        fp = prints.get(it.key)
        if fp is not None:
            data.setdefault(it.source, {})[it.key] = [fp.size, fp.mtime_ns, fp.sha256]
    _save(store, data)
    return len(items)


def forget(store, source: str, keys: Iterable[str]) -> None:
    """Drop exclusions of ``keys`` (their files changed and were indexed again)."""
    keys = list(keys)
    data = load(store)
    mine = data.get(source, {})
    if not keys or not any(k in mine for k in keys):
        return
    for k in keys:
        mine.pop(k, None)
    if not mine:
        data.pop(source, None)
    _save(store, data)


def unchanged(item: SourceItem, fingerprint: list) -> bool:
    """Whether ``item`` still looks like it did when it was removed."""
    size, mtime_ns, sha = (list(fingerprint) + [None, None, None])[:3]
    if item.path is not None:
        try:
            st = os.stat(item.path)
        except OSError:
            return False
        return st.st_size == size and st.st_mtime_ns == mtime_ns
    text = item.text or ""
    return sha == hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _save(store, data: Exclusions) -> None:
    store.write_state(STATE, json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass"))
