"""Run by test_ray_engine: index with the Ray engine, write MARKER after the first committed
batch, then wait to be killed (so the kill always lands mid-run)."""

import sys
import threading
from pathlib import Path

from jointspace.engines import load_engine
from jointspace.query import Collection


def main(source: str, collection: str, model: str, address: str, marker: str) -> None:
    first = []

    def on_progress(done: int, total: int) -> None:
        if done > 0 and not first:  # progress is reported after each commit
            first.append(done)
            Path(marker).write_text(str(done))
            threading.Event().wait()  # hold here until SIGKILL

    with Collection.create(collection, model) as col:
        col.add(source, batch_size=4, engine=load_engine("ray", address=address),
                progress=on_progress)


if __name__ == "__main__":
    main(*sys.argv[1:6])
