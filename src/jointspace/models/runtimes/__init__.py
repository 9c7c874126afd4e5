"""How a model's towers run on the CPU: eager torch, torch bf16, ONNX Runtime fp32 or int8.

Every runtime computes the same vector space (the parity thresholds in ``PARITY`` are checked when
a runtime is chosen), so a collection embedded with one runtime is searchable with any other.

- ``torch``: the eager fp32 model (the reference).
- ``bf16``: the eager model under CPU autocast to bfloat16; offered only where the CPU has native
  bf16 instructions (avx512_bf16 / AMX), elsewhere it is slower than fp32.
- ``onnx`` / ``onnx-int8``: the tower exported once with ``torch.onnx.export`` (int8: dynamic
  quantization of its weights) and cached on disk (``cache.py``); later processes load the cached
  graph through onnxruntime and the ``tokenizers`` library alone, without importing torch.
- ``auto``: per tower, the fastest of the above that meets its parity threshold on this CPU,
  measured once and remembered in the cache.
"""

from __future__ import annotations

from jointspace.errors import BadInputError

TORCH, BF16, ONNX, ONNX_INT8, AUTO = "torch", "bf16", "onnx", "onnx-int8", "auto"
RUNTIMES = (AUTO, TORCH, BF16, ONNX, ONNX_INT8)
ONNX_RUNTIMES = (ONNX, ONNX_INT8)
# minimum per-input cosine with eager fp32 for a runtime to be used (the parity bar)
PARITY = {TORCH: 1.0, ONNX: 0.9999, BF16: 0.999, ONNX_INT8: 0.999}


def check_runtime(runtime: str | None) -> str:
    """Validate a runtime name (None means ``torch``)."""
    runtime = TORCH if runtime is None else runtime
    if runtime not in RUNTIMES:
        raise BadInputError(f"unknown runtime {runtime!r}", hint="use one of: " + ", ".join(RUNTIMES))
    return runtime


def cpu_has_bf16() -> bool:
    """True when the CPU computes bf16 natively (avx512_bf16 or AMX); Linux only."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


__all__ = ["AUTO", "BF16", "ONNX", "ONNX_INT8", "ONNX_RUNTIMES", "PARITY", "RUNTIMES", "TORCH",
           "check_runtime", "cpu_has_bf16"]
