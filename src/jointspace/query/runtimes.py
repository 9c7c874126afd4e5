"""Which runtimes made a collection's vectors, remembered as derived state in the store.

Vectors from every runtime share one space, so this is a record (shown by ``info``), never a
constraint: a collection indexed with ``onnx-int8`` is searched with ``torch`` and vice versa.
State ``runtimes``: ``{"requested": name, "last": {tower: runtime}, "used": {tower: [every
runtime used]}}``; ``requested`` (e.g. ``auto``) is what a later open runs unless told otherwise.
"""

from __future__ import annotations

import json
from typing import Any

STATE = "runtimes"


def recorded_runtimes(store: Any) -> dict[str, Any]:
    """What ``record_runtimes`` stored ({} for a collection indexed before runtimes existed)."""
    blob = store.read_state(STATE)
    try:
        return json.loads(blob.data) if blob is not None else {}
    except ValueError:
        return {}


def runtime_for(store: Any, asked: str | None) -> str | None:
    """How to run a collection's model: as asked, else the way it was run to index."""
    return asked or recorded_runtimes(store).get("requested")


def record_runtimes(store: Any, requested: str | None, runtimes: dict[str, str]) -> None:
    """Note that ``runtimes`` (asked for as ``requested``) just made vectors (writer lock held)."""
    if not runtimes:
        return
    state = recorded_runtimes(store)
    used = state.get("used", {})
    for tower, runtime in runtimes.items():
        used[tower] = sorted(set(used.get(tower, [])) | {runtime})
    state = {"requested": requested or state.get("requested"), "last": dict(runtimes),
             "used": used}
    store.write_state(STATE, json.dumps(state, sort_keys=True).encode())
