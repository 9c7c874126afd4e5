"""Thread pools, set deliberately.

torch and faiss share one OpenMP runtime in a process (setting faiss to one thread with
``omp_set_num_threads`` silently made torch single-threaded too), and OpenMP's default is to
spin-wait between parallel regions: a query that alternates a torch encode with a faiss search
then fights its own idle threads for the cores. Measured on 2 cores (benchmarks/threads.py, 100k
vectors): p99 latency 796 ms with active waiting vs 48 ms with passive waiting, same p50.

So ``configure_process()`` (called by the CLI and the service before torch loads) makes waiting
passive unless the user set OMP_WAIT_POLICY, and leaves both libraries all cores.
JOINTSPACE_TORCH_THREADS / JOINTSPACE_FAISS_THREADS override the thread counts.
"""

from __future__ import annotations

import os
import sys
import threading

_DONE: set[str] = set()
_LOCK = threading.Lock()


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def configure_process() -> None:
    """Make OpenMP wait passively; must run before torch or faiss is imported to take effect."""
    if "torch" not in sys.modules and "faiss" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


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
