"""Thread pools, set deliberately.

torch and faiss share one OpenMP runtime in a process (setting faiss to one thread with
``omp_set_num_threads`` silently made torch single-threaded too), and OpenMP's default is to
spin-wait between parallel regions: a query that alternates a torch encode with a faiss search
then fights its own idle threads for the cores. Measured on 2 cores (benchmarks/threads.py, 100k
vectors): p99 latency 796 ms with active waiting vs 48 ms with passive waiting, same p50.

So ``configure_process()`` (called by the CLI and the service before torch loads) makes waiting
passive unless the user set OMP_WAIT_POLICY, and leaves both libraries all cores.
Training is the other way round: thousands of short parallel regions back to back, each paying a
wake-up when waiting is passive (the demo recipe: 2,280-2,430 vs 2,720-2,730 samples/s with
libgomp's default spin-then-sleep). ``prefer_throughput()``, called first by ``train`` and
``demo``, gives such batch commands the default back.
JOINTSPACE_TORCH_THREADS / JOINTSPACE_FAISS_THREADS override the thread counts.
"""

from __future__ import annotations

import os
import sys
import threading

_DONE: set[str] = set()
_LOCK = threading.Lock()
_PASSIVE_SET_HERE = False  # configure_process() chose OMP_WAIT_POLICY, not the user


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _openmp_loaded() -> bool:
    return "torch" in sys.modules or "faiss" in sys.modules


def configure_process() -> None:
    """Make OpenMP wait passively; must run before torch or faiss is imported to take effect."""
    global _PASSIVE_SET_HERE
    if not _openmp_loaded() and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        _PASSIVE_SET_HERE = True


def prefer_throughput() -> None:
    """Undo configure_process()'s passive waiting for a batch job (training), before torch loads;
    a policy the user set is kept."""
    global _PASSIVE_SET_HERE
    if _PASSIVE_SET_HERE and not _openmp_loaded():
        os.environ.pop("OMP_WAIT_POLICY", None)
        _PASSIVE_SET_HERE = False


def configure_faiss() -> None:
    """Apply JOINTSPACE_FAISS_THREADS once per process, if set."""
    _apply_once("faiss", "JOINTSPACE_FAISS_THREADS", lambda n: _import("faiss").omp_set_num_threads(n))


def configure_torch() -> None:
    """Apply JOINTSPACE_TORCH_THREADS once per process, if set."""
    _apply_once("torch", "JOINTSPACE_TORCH_THREADS", lambda n: _import("torch").set_num_threads(n))


def _apply_once(name: str, env: str, setter) -> None:
    with _LOCK:
        if name in _DONE:
            return
        n = _env_int(env)
        if n:
            setter(n)
        _DONE.add(name)


def _import(module: str):
    import importlib

    return importlib.import_module(module)
