"""The process the crasher kills: runs a plan of collection operations, acknowledging each.

    python crash_child.py PLAN.json

Plan: ``{"collection": DIR, "model": NAME, "ops": [...]}`` with ops
``{"op": "sync", "folder": DIR, "batch": B, "workers": W}``,
``{"op": "texts", "items": {id: text}, "batch": B}``, ``{"op": "remove", "ids": [...]}``,
``{"op": "repair"}`` and ``{"op": "compact"}``; ``"repeat": N`` runs the op list N times.

Every line on stdout is flushed before the next step starts, so whatever the parent read was
acknowledged: ``READY``, ``PROG <op> <done> <total>`` (a batch is committed), ``ACK <op> <json>``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def say(*parts: object) -> None:
    sys.stdout.write(" ".join(str(p) for p in parts) + "\n")
    sys.stdout.flush()


def run(plan: dict) -> None:
    from relsupport import register_rowhash

    from jointspace.ingest.sources import FolderSource, TextsSource
    from jointspace.query import Collection

    register_rowhash()
    col = Collection.create(plan["collection"], plan["model"])
    _ = col.embedder  # load before READY so the kill window covers real work
    say("READY")
    n = 0
    for _ in range(plan.get("repeat", 1)):
        for op in plan["ops"]:
            kind = op["op"]

            def progress(done: int, total: int, n: int = n) -> None:
                say("PROG", n, done, total)

            if kind == "sync":
                src = FolderSource(Path(op["folder"]))
                out = col.add(src, batch_size=op["batch"], workers=op["workers"],
                              progress=progress).to_dict()
                out.pop("errors")
            elif kind == "texts":
                ids = sorted(op["items"])
                src = TextsSource([op["items"][i] for i in ids], ids=ids, id="texts")
                out = col.add(src, batch_size=op["batch"], progress=progress).to_dict()
                out.pop("errors")
            elif kind == "remove":
                out = {"removed": col.remove(op["ids"])}
            elif kind == "repair":
                from jointspace.store.check import check_collection

                out = {"ok": check_collection(col.path, repair=True).ok}
            elif kind == "compact":
                from jointspace.store.compact import compact_collection

                out = compact_collection(col.path)
            else:
                raise SystemExit(f"unknown op {kind}")
            say("ACK", n, json.dumps(out))
            n += 1
    col.close()
    say("DONE")


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()))
