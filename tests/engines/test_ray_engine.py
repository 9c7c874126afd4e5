"""The Ray engine on a real local Ray (2 CPUs, no dashboard, 127.0.0.1 only), started once here.

It must give what the local engine gives: the same vectors, the same report and error records,
and a resume after its driver is killed mid-run.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from jointspace.engines import load_engine
from jointspace.query import Collection

COCO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coco_mini" / "images"
COCO_DIR_PRESENT = COCO.is_dir()
# without the photos every count below would be wrong
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not COCO_DIR_PRESENT, reason="needs ../shared/data/coco_mini beside the repo")]
JS = str(Path(sys.executable).parent / "jointspace")
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray for the module, started the way the engine starts one; stopped at the end."""
    from jointspace.engines.ray import local_only

    local_only()
    import ray

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        started = {p for p in _descendants(os.getpid()) - {os.getpid()} if _is_ray(p)}
        assert len(started) >= 2  # at least the GCS and the raylet
        ray.shutdown()
        deadline = time.monotonic() + 60
        while _alive(started) and time.monotonic() < deadline:
            time.sleep(0.1)  # waiting for the processes to exit, not deciding on time
        assert not _alive(started), "Ray processes left running after ray.shutdown()"


def _is_ray(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read()
    except OSError:
        return False
    return b"ray::" in cmd or b"/ray/" in cmd  # gcs_server, raylet, agents, workers


def _alive(pids: set[int]) -> set[int]:
    """The ``pids`` still running (zombies count as gone: they have exited)."""
    out = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.add(pid)
        except OSError:
            pass
    return out


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += children.get(p, [])
    return out


def _listening(pids: set[int]) -> list[tuple[int, str]]:
    """(pid, local address as hex from /proc/net) of every listening TCP socket of ``pids``."""
    inodes = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                cols = line.split()
                if cols[3] == "0A":  # TCP_LISTEN
                    inodes[cols[9]] = cols[1].split(":")[0]
    out = []
    for pid in pids:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        out += [(pid, inodes[link[8:-1]]) for link in links
                if link.startswith("socket:[") and link[8:-1] in inodes]
    return out


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_local_ray_listens_on_loopback_only(ray_address):
    import ray

    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    ray.get(ray.remote(lambda: 1).remote())  # a worker process is up too
    sockets = _listening(_descendants(os.getpid()))
    assert len({pid for pid, _ in sockets}) >= 3, sockets  # gcs, raylet, worker, driver, ...
    assert all(addr in LOOPBACK for _, addr in sockets), sockets
    assert ray.cluster_resources()["CPU"] == 2


def test_actors_that_would_starve_decoding_are_refused(ray_address, tmp_path):
    from jointspace.errors import BadInputError

    (tmp_path / "a.txt").write_text("x")
    with Collection.create(tmp_path / "c", "hash:8") as col:
        with pytest.raises(BadInputError, match="--actors 2 would hold all 2 CPUs"):
            col.add(tmp_path / "a.txt", engine=load_engine("ray", address=ray_address, actors=2))


def _vectors(path: Path) -> dict[str, tuple[int, np.ndarray]]:
    with Collection.open(path, readonly=True) as col:
        ids = col.store.keys_of_source(next(iter({it.source for it in col.store.get([1])})))
        vecs = col.store.vectors(list(ids.values()))
    return {key: (i, v) for (key, i), v in zip(ids.items(), vecs)}


def _report(r) -> dict:
    return {k: v for k, v in r.to_dict().items() if k != "seconds"}


def test_same_vectors_report_and_errors_as_local(ray_address, tiny_clip_dir, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    texts = {"short.txt": "a photo of a dog", "long.txt": " ".join(["a red car"] * 60)}
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    files = sorted(COCO.rglob("*.jpg"))[:24] + [broken] + [tmp_path / n for n in texts]
    model = f"hf:{tiny_clip_dir}"
    reports = {}
    for name, engine in (("local", None), ("ray", load_engine("ray", address=ray_address))):
        with Collection.create(tmp_path / name, model) as col:
            reports[name] = col.add(files, batch_size=8, workers=0, engine=engine)
            errors = [e.to_dict() for e in col.errors()]
            assert errors == [{"path": str(broken), "reason": errors[0]["reason"]}]
    assert _report(reports["ray"]) == _report(reports["local"])
    assert reports["ray"].added == 26 and reports["ray"].failed == 1
    assert reports["ray"].truncated == 1  # the long text, counted in the actor
    local, remote = _vectors(tmp_path / "local"), _vectors(tmp_path / "ray")
    assert local.keys() == remote.keys() and len(local) == 26
    for key, (i, v) in local.items():
        j, w = remote[key]
        assert i == j, key  # committed in source order: the same ids
        assert float(v @ w) >= 0.9999, key
    # a re-run with nothing changed embeds nothing, on either engine
    with Collection.open(tmp_path / "ray") as col:
        again = col.add(files, batch_size=8, engine=load_engine("ray", address=ray_address))
    assert (again.added, again.unchanged, again.failed) == (0, 26, 1)


def test_resume_after_the_driver_is_killed(ray_address, tmp_path):
    files = sorted(COCO.rglob("*.jpg"))
    source = tmp_path / "photos"
    source.mkdir()
    for f in files[:24]:
        shutil.copyfile(f, source / f.name)  # a folder source skips symlinks
    col, marker = tmp_path / "col", tmp_path / "committed"
    model = "hash:32"  # the vectors are checked above; here what counts is what gets committed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, str(HERE / "ray_kill_child.py"), str(source),
                              str(col), model, ray_address, str(marker)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for the event (the marker file), not deciding on time
        assert marker.exists(), child.stderr.read().decode()[-3000:] if child.poll() else "timeout"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    committed = int(marker.read_text())
    assert 0 < committed < 24

    out = subprocess.run([JS, "index", str(source), "-c", str(col), "--engine", "ray",
                          "--ray-address", ray_address, "--batch-size", "4", "--json"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert (report["unchanged"], report["added"], report["failed"]) == (committed, 24 - committed, 0)

    with Collection.create(tmp_path / "local", model) as ref:
        ref.add(source, batch_size=4, workers=0)
    local, remote = _vectors(tmp_path / "local"), _vectors(col)
    assert local.keys() == remote.keys() and len(local) == 24
    assert min(float(v @ remote[k][1]) for k, (_, v) in local.items()) >= 0.9999


def test_a_worker_sink_gets_the_vectors_and_the_driver_only_the_bookkeeping(ray_address,
                                                                             tmp_path):
    """Where the store offers a worker sink, the actors hand it their items; the driver records
    errors and seq only. A real Qdrant server cannot run here, and qdrant+local opens in one
    process, so the sink records what it gets (in the actors' processes) and the test then
    replays that through the real ``QdrantSink``: the points equal the driver path's."""
    import pickle
    import uuid

    from jointspace.store.qdrant.location import parse_location
    from jointspace.store.qdrant.sink import QdrantSink
    from jointspace.store.registry import StoreOptions, open_store

    class Recording:  # defined here: Ray pickles it by value into the actors
        def __init__(self, folder):
            self.folder = folder

        def __call__(self, items):
            (self.folder / uuid.uuid4().hex).write_bytes(pickle.dumps((os.getpid(), items)))
            return True

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "t.txt").write_text("a photo of a dog")
    files = sorted(COCO.rglob("*.jpg"))[:10] + [broken, tmp_path / "t.txt"]
    got = tmp_path / "got"
    got.mkdir()
    ref_loc, loc = (f"qdrant+local:{tmp_path / n}" for n in ("ref", "ray"))
    with Collection.create(ref_loc, "hash:32") as ref:
        expected = ref.add(files, batch_size=4, workers=0)
    with Collection.create(loc, "hash:32") as col:
        col.store.worker_sink = lambda: Recording(got)
        report = col.add(files, batch_size=4, engine=load_engine("ray", address=ray_address))
        assert col.store.count() == 0  # no vector came through the driver
        assert len(col.errors()) == 1 and col.store.seq() == 3  # three batches recorded
    assert _report(report) == _report(expected)
    calls = [pickle.loads(f.read_bytes()) for f in got.iterdir()]
    assert all(pid != os.getpid() for pid, _ in calls)  # called in the actors, not here
    items = [it for _, batch in calls for it in batch]
    assert sorted(it.key for it in items) == sorted(str(f) for f in files if f != broken)

    sink = QdrantSink(parse_location(loc), StoreOptions(), 32, 1)
    assert sink(items)
    sink.close()
    points = {}
    for name in (ref_loc, loc):
        store = open_store(name)
        try:
            found = store.client.scroll(store.name, limit=100, with_payload=True,
                                        with_vectors=True)[0]
            points[name] = {p.id: ({k: v for k, v in p.payload.items() if k != "seq"},
                                   p.vector) for p in found}
        finally:
            store.close()
    assert points[loc] == points[ref_loc] and len(points[loc]) == 11
    with Collection.open(loc) as col:  # incremental: nothing changed, nothing re-embedded
        col.store.worker_sink = lambda: Recording(got)
        again = col.add(files, batch_size=4, engine=load_engine("ray", address=ray_address))
    assert (again.added, again.unchanged, again.failed) == (0, 11, 1)
