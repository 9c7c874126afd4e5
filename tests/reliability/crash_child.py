"""The process the crasher kills: runs a plan of collection operations, acknowledging each.

    python crash_child.py PLAN.json

Plan: ``{"collection": DIR, "model": NAME, "ops": [...]}`` with ops
``{"op": "sync", "folder": DIR, "batch": B, "workers": W}``,
``{"op": "texts", "items": {id: text}, "batch": B}``, ``{"op": "remove", "ids": [...]}``,
``{"op": "remove", "where": FILTER}``, ``{"op": "repair"}``, ``{"op": "compact"}`` and
``{"op": "hold", "seconds": S}`` (holds the writer lock); all take ``"lock_timeout"`` and
``"pause_after"`` (seconds to wait after the ack). ``"repeat": N`` runs the op list N times;
``"start_at"``
(epoch seconds) makes several children open the collection at the same instant.

Every line on stdout is flushed before the next step starts, so whatever the parent read was
acknowledged: ``READY``, ``PROG <op> <done> <total>`` (a batch is committed), ``ACK <op> <json>``;
a JointspaceError ends it with ``ERROR <type> <message>`` and exit status 3.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def run(plan: dict) -> None:
    from relsupport import register_rowhash

    from jointspace.ingest.sources import FolderSource, TextsSource
    from jointspace.query import Collection

    register_rowhash()
    while time.time() < plan.get("start_at", 0):
        pass
    col = Collection.create(plan["collection"], plan["model"])
    _ = col.embedder  # load before READY so the kill window covers real work
    say("READY")
    n = 0
    for _ in range(plan.get("repeat", 1)):
        for op in plan["ops"]:
            kind, wait = op["op"], op.get("lock_timeout", 0.0)

            def progress(done: int, total: int, n: int = n) -> None:
                say("PROG", n, done, total)

            if kind == "sync":
                src = FolderSource(Path(op["folder"]))
                out = col.add(src, batch_size=op["batch"], workers=op["workers"],
                              progress=progress, lock_timeout=wait).to_dict()
                out.pop("errors")
            elif kind == "texts":
                ids = sorted(op["items"])
                src = TextsSource([op["items"][i] for i in ids], ids=ids, id="texts")
                out = col.add(src, batch_size=op["batch"], progress=progress,
                              lock_timeout=wait).to_dict()
                out.pop("errors")
            elif kind == "remove":
                out = {"removed": col.remove(op.get("ids", ()), where=op.get("where"),
                                             lock_timeout=wait)}
            elif kind == "repair":
                from jointspace.store.check import check_collection

                out = {"ok": check_collection(col.path, repair=True).ok}
            elif kind == "hold":  # keep the writer lock for a while (to test a second writer)
                with col.store.writer(wait):
                    say("HOLDING")
                    time.sleep(op["seconds"])
                out = {}
            elif kind == "compact":
                from jointspace.store.compact import compact_collection

                out = compact_collection(col.path)
            else:
                raise SystemExit(f"unknown op {kind}")
            say("ACK", n, json.dumps(out))
            time.sleep(op.get("pause_after", 0.0))  # pacing, so readers overlap every op
            n += 1
    col.close()
    say("DONE")


if __name__ == "__main__":
    from jointspace.errors import JointspaceError

    try:
        run(json.loads(Path(sys.argv[1]).read_text()))
    except JointspaceError as exc:
        say("ERROR", type(exc).__name__, exc.message)
        raise SystemExit(3) from None
