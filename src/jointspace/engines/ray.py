"""Ray Data engine: decode as Ray tasks, embed in an actor pool, stream results to the writer.

The items to embed become a Ray dataset (one block per batch). Decoding runs as tasks
(``ingest.pipeline.prepare_item``, the same code as the local engine, with its per-file time
limit); embedding runs in ``actors`` pool actors that each load the model once (one GPU each when
the cluster has GPUs). Batches stream back in source order to this process, the single writer, so
the store sees exactly the batches the local engine would commit: a killed driver loses at most
the batches in flight and a re-run skips what was committed. Given a ``sink`` (the store's worker
sink, for a Qdrant server) the actors store their vectors themselves and only the rest travels.

A local Ray (no ``address``) is started bound to 127.0.0.1 only, without the dashboard, and shut
down afterwards; with ``address`` the engine joins that cluster (every node needs jointspace and
read access to the files: give the same paths on a shared filesystem).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from jointspace.engines.base import Embedded, EmbeddedBatch, embed_prepared
from jointspace.engines.local import prepare_options
from jointspace.errors import BadInputError, JointspaceError
from jointspace.ingest.pipeline import Prepared, PrepareOptions, prepare_fenced

if TYPE_CHECKING:
    from jointspace.ingest.items import SourceItem
    from jointspace.models.base import Embedder
    from jointspace.query.indexing import SyncOptions

    WorkerSink = Callable[[list[Embedded]], bool]

INSTALL_HINT = "install it with: pip install 'jointspace[ray]'"
# Rows carry pickled records: a Prepared holds optional, ragged fields (arrays, errors, None)
# that have no fixed Arrow schema; bytes columns move them unchanged.
_ROW = "record"
DECODE_TASK_MEMORY = 512 * 1024**2  # bytes reserved per decode task


class RayEngine:
    """Decode on Ray tasks, embed on ``actors`` Ray actors; ``address=None`` starts a local Ray."""

    upserts_in_workers = True  # embed() takes a sink the actors call with their results

    def __init__(self, address: str | None = None, actors: int = 1, num_gpus: float | None = None,
                 num_cpus: int | None = None) -> None:
        self.address = address
        self.actors = max(1, actors)
        self.num_gpus = num_gpus  # per actor; None: 1 when the cluster has GPUs, else 0
        self.num_cpus = num_cpus  # for a local Ray only; None: all cores
        if not address:
            local_only()
        import_ray()  # fail now, with the install hint, not after the model has loaded

    def embed(self, embedder: Embedder, items: list[SourceItem], known_sha: Mapping[str, str],
              opts: SyncOptions, sink: WorkerSink | None = None) -> Iterator[EmbeddedBatch]:
        """``sink`` (picklable): actors hand it their embedded items; where it stores them the
        items come back marked ``upserted``, without vectors."""
        if not items:
            return
        ray = import_ray()
        started = connect(self.address, self.num_cpus)
        try:
            yield from self._run(ray, embedder, items, known_sha, opts, sink)
        finally:
            if started:
                ray.shutdown()

    def _run(self, ray: Any, embedder: Embedder, items: list[SourceItem],
             known_sha: Mapping[str, str], opts: SyncOptions,
             sink: WorkerSink | None) -> Iterator[EmbeddedBatch]:
        prep = prepare_options(embedder, items, opts)
        size = opts.batch_size
        rows = [{_ROW: pickle.dumps((it, known_sha.get(it.key)))} for it in items]
        gpus = self.num_gpus
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
        cpus = ray.cluster_resources().get("CPU", 0)
        if not gpus and self.actors >= cpus:  # each CPU actor holds a CPU: decoding would starve
            raise BadInputError(
                f"--actors {self.actors} would hold all {cpus:g} CPUs of the Ray cluster and "
                "leave none for decoding",
                hint=f"use at most {max(int(cpus) - 1, 1)} actors, or add nodes or GPUs")
        ds = (
            ray.data.from_items(rows, override_num_blocks=-(-len(rows) // size))
            # the memory request keeps decoding in its own tasks: Ray Data would otherwise fuse
            # it into the actors, serialising decode and embed on the same process
            .map_batches(_decode, batch_size=size, fn_kwargs={"prep": prep},
                         memory=DECODE_TASK_MEMORY)
            .map_batches(_EmbedActor, batch_size=size, num_gpus=gpus,
                         compute=ray.data.ActorPoolStrategy(size=self.actors),
                         fn_constructor_kwargs={"model": embedder.name, "sink": sink})
        )
        # on this dataset's own copy of the context, not the process-wide one
        ds.context.execution_options.preserve_order = True  # commit in source order, as local
        ds.context.enable_progress_bars = False
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
            yield _unpack(batch)


def _decode(batch: dict[str, np.ndarray], prep: PrepareOptions) -> dict[str, np.ndarray]:
    """Ray task: read, hash, decode and preprocess a batch (per-file problems become records)."""
    pairs = [pickle.loads(r) for r in batch[_ROW]]
    # the same per-file time limit as a local worker; no address-space cap: a Ray worker is shared
    fenced = PrepareOptions(prep.preprocessor, prep.max_pixels, prep.fast_decode,
                            memory_limit=None, timeout_s=prep.timeout_s)
    prepared = prepare_fenced([it for it, _ in pairs], fenced)
    out = [pickle.dumps((p, known)) for p, (_, known) in zip(prepared, pairs)]
    return {_ROW: np.array(out, dtype=object)}


class _EmbedActor:
    """Ray actor: loads the model once, embeds each decoded batch it is given."""

    def __init__(self, model: str, sink: WorkerSink | None = None) -> None:
        from jointspace.models import load_embedder

        self.embedder = load_embedder(model)
        self.sink = sink

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pairs = [pickle.loads(r) for r in batch[_ROW]]
        prepared: list[Prepared] = [p for p, _ in pairs]
        known = {p.item.key: k for p, k in pairs if k is not None}
        result = embed_prepared(self.embedder, prepared, known)
        stored = self.sink is not None and self.sink(result.items)
        for e in result.items:
            e.prepared.array = None  # the pixels stay here: only vectors travel back
            if stored and e.vector is not None:
                e.vector, e.upserted = None, True  # ...or not even those: the sink has them
        truncated = [result.truncated] + [0] * (len(result.items) - 1)
        return {_ROW: np.array([pickle.dumps((e, t)) for e, t in zip(result.items, truncated)],
                               dtype=object)}


def _unpack(batch: dict[str, np.ndarray]) -> EmbeddedBatch:
    out = EmbeddedBatch()
    for raw in batch[_ROW]:
        e, truncated = pickle.loads(raw)
        out.items.append(Embedded(e.prepared, e.vector, e.upserted))
        out.truncated += truncated
    return out


def import_ray() -> Any:
    """``ray`` with Ray Data, or an error with the install hint."""
    try:
        import ray
        import ray.data  # noqa: F401 - the engine needs Ray Data, not just Ray core
    except ImportError as exc:
        raise JointspaceError(f"the Ray engine needs Ray Data ({exc})", hint=INSTALL_HINT) from exc
    return ray


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Join ``address``, or start a loopback-only local Ray; True if this call started one."""
    if not address:
        local_only()
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = {"log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **quiet)
        return False
    local_only()  # again: ray may have been imported before the environment was set
    ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet)
    return True


def local_only() -> None:
    """Make a Ray started from this process listen on 127.0.0.1 only, and send no usage stats.

    Ray replaces a loopback node address with the machine's routable IP (so other nodes could
    join) and then binds its servers to all interfaces, unless its cluster mode is off; off,
    every server binds 127.0.0.1. Ray reads the switch at import, so it is set in the environment
    (inherited by Ray's processes) and, if ray is already imported, on its constants module.
    """
    import sys

    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:
        constants.ENABLE_RAY_CLUSTER = False
