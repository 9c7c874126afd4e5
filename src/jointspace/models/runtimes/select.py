"""Choosing and preparing a runtime per tower: export once, check parity, time, remember.

``prepare(entry, specs, requested)`` returns ``{tower: runtime}`` and leaves in the cache every
ONNX file the choice needs, the parity each candidate measured and, for ``auto``, the choice for
this CPU, so the next process reads the choice instead of measuring again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jointspace.models.runtimes import (
    AUTO,
    BF16,
    ONNX,
    ONNX_INT8,
    ONNX_RUNTIMES,
    PARITY,
    TORCH,
    cpu_has_bf16,
)
from jointspace.models.runtimes.cache import CacheEntry, cpu_signature
from jointspace.models.runtimes.export import (
    TowerSpec,
    export_onnx,
    min_cosine,
    quantize_int8,
    quantize_int8_weights,
)
from jointspace.models.runtimes.runners import OnnxRunner, TorchRunner, optimized_graph

Say = Callable[[str], None]
_INT8_SCHEMES = {"dynamic": "dynamic", "weights": "weight-only"}  # manifest name -> in words


def say_stderr(message: str) -> None:
    print(f"jointspace: {message}", file=sys.stderr, flush=True)


def auto_candidates() -> list[str]:
    """What ``auto`` tries, on this CPU."""
    return [ONNX_INT8, ONNX, *([BF16] if cpu_has_bf16() else []), TORCH]


def runner_for(entry: CacheEntry, spec: TowerSpec, runtime: str) -> Any:
    """A runner of ``spec`` under ``runtime`` (the ONNX file must be in the cache)."""
    if runtime in ONNX_RUNTIMES:
        path = entry.file(spec.name, runtime)
        if path is None:
            raise FileNotFoundError(f"{spec.name} tower not exported for {runtime}")
        return OnnxRunner(path, runtime)
    return TorchRunner(spec.fn, bf16=runtime == BF16, float_dtype=spec.float_dtype)


def prepare(entry: CacheEntry, specs: list[TowerSpec], requested: str, base: dict[str, Any],
            say: Say = say_stderr) -> dict[str, str]:
    """Make ``requested`` (or ``auto``'s pick) runnable for every tower; returns the choice."""
    manifest = entry.manifest() or {}
    for key, value in base.items():  # tower entries merge: keep their files, parity, auto
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key].update(value)
        else:
            manifest[key] = value
    chosen = {}
    for spec in specs:
        tower = manifest.setdefault(spec.name, {})
        for key in ("files", "parity", "export_seconds"):
            tower.setdefault(key, {})
        auto = tower.setdefault("auto", {})
        if requested != AUTO:
            _ensure(entry, manifest, spec, requested, say)
            _check_parity(entry, manifest, spec, requested, say)
            chosen[spec.name] = requested
        elif cpu_signature() in auto:
            chosen[spec.name] = auto[cpu_signature()]["runtime"]
            _ensure(entry, manifest, spec, chosen[spec.name], say)
        else:
            chosen[spec.name] = _pick(entry, manifest, spec, say)
        entry.write_manifest(manifest)
    return chosen


def _ensure(entry: CacheEntry, manifest: dict, spec: TowerSpec, runtime: str, say: Say,
            refs: list[np.ndarray] | None = None) -> None:
    """Export (and quantize) ``spec`` for an ONNX runtime unless the cache already has it;
    ``refs``: the eager outputs on the probes, when the caller has them already."""
    if runtime not in ONNX_RUNTIMES or entry.file(spec.name, runtime) is not None:
        return
    tower = manifest[spec.name]
    entry.directory.mkdir(parents=True, exist_ok=True)
    if runtime == ONNX_INT8:
        _ensure(entry, manifest, spec, ONNX, say)
    start = time.perf_counter()
    path = entry.directory / f"{spec.name}-{runtime}.onnx"
    what = "quantizing" if runtime == ONNX_INT8 else "exporting"
    say(f"{what} the {spec.name} tower for {runtime} (once; cached in {entry.directory}) ...")
    if runtime == ONNX:
        export_onnx(spec, path)
    else:
        _quantize(entry, manifest, spec, path, say, refs)
    seconds = time.perf_counter() - start
    tower["files"][runtime] = path.name
    tower["export_seconds"][runtime] = round(seconds, 2)
    entry.write_manifest(manifest)
    say(f"{what} the {spec.name} tower for {runtime}: done in {seconds:.1f} s")


def _quantize(entry: CacheEntry, manifest: dict, spec: TowerSpec, path: Path, say: Say,
              refs: list[np.ndarray] | None) -> None:
    """Dynamic int8 (fast); weight-only int8 instead where dynamic misses the parity bar."""
    tower = manifest[spec.name]
    source = entry.directory / tower["files"][ONNX]
    quantize_int8(source, path)
    tower["files"][ONNX_INT8] = path.name
    tower["parity"].pop(ONNX_INT8, None)
    entry.write_manifest(manifest)  # runners find the file through the manifest on disk
    refs = refs if refs is not None else _references(spec)
    dynamic = _parity(entry, manifest, spec, ONNX_INT8, refs)
    tower["int8"] = {"scheme": "dynamic", "parity": {"dynamic": dynamic}}
    if dynamic >= PARITY[ONNX_INT8]:
        return
    optimized_graph(path).unlink(missing_ok=True)  # the dynamic graph's
    quantize_int8_weights(source, path)
    tower["parity"].pop(ONNX_INT8)
    weights = _parity(entry, manifest, spec, ONNX_INT8, refs)
    tried = {"dynamic": dynamic, "weights": weights}
    if weights < dynamic:  # keep the closer of the two
        optimized_graph(path).unlink(missing_ok=True)
        quantize_int8(source, path)
        tower["parity"][ONNX_INT8] = dynamic
    tower["int8"] = {"scheme": max(tried, key=tried.get), "parity": tried}
    say(f"the {spec.name} tower under dynamic int8 reaches cosine {dynamic:.5f} with fp32 (the "
        f"bar is {PARITY[ONNX_INT8]}); using {_INT8_SCHEMES[tower['int8']['scheme']]} int8 "
        f"({max(tried.values()):.5f}), which is not faster than onnx")


def _parity(entry: CacheEntry, manifest: dict, spec: TowerSpec, runtime: str,
            refs: list[np.ndarray]) -> float:
    parity = manifest[spec.name]["parity"]
    if runtime not in parity:
        run = runner_for(entry, spec, runtime)
        parity[runtime] = round(min(min_cosine(run(p), r) for p, r in zip(spec.probes, refs)), 6)
    return parity[runtime]


def _references(spec: TowerSpec) -> list[np.ndarray]:
    run = TorchRunner(spec.fn, float_dtype=spec.float_dtype)
    return [run(p) for p in spec.probes]


def _check_parity(entry: CacheEntry, manifest: dict, spec: TowerSpec, runtime: str,
                  say: Say) -> None:
    if runtime == TORCH:
        return
    cos = _parity(entry, manifest, spec, runtime, _references(spec))
    if cos < PARITY[runtime]:
        say(f"warning: the {spec.name} tower under {runtime} reaches cosine {cos:.5f} with eager "
            f"fp32 (the bar is {PARITY[runtime]}); `--runtime auto` would not pick it")


def _pick(entry: CacheEntry, manifest: dict, spec: TowerSpec, say: Say) -> str:
    """Time every candidate that meets its parity bar; keep the fastest."""
    refs = _references(spec)
    timings: dict[str, float] = {}
    for runtime in auto_candidates():
        _ensure(entry, manifest, spec, runtime, say, refs)
        if runtime != TORCH and _parity(entry, manifest, spec, runtime, refs) < PARITY[runtime]:
            continue
        timings[runtime] = _seconds(runner_for(entry, spec, runtime), spec.probes[0])
    best = min(timings, key=timings.get)
    manifest[spec.name]["auto"][cpu_signature()] = {
        "runtime": best, "seconds_per_probe": {k: round(v, 5) for k, v in timings.items()}}
    say(f"runtime auto: {spec.name} tower -> {best} ("
        + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in timings.items()) + " per probe batch)")
    return best


def _seconds(run: Any, inputs: dict[str, np.ndarray], repeats: int = 3) -> float:
    run(inputs)  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(inputs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))
