"""Tower runners: ``runner(inputs) -> (n, dim) float32``, inputs a dict of numpy arrays by name.

``TorchRunner`` calls a model method (eager fp32, or under bf16 autocast); ``OnnxRunner`` runs an
exported graph in onnxruntime and imports neither torch nor transformers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

THREADS_ENV = "JOINTSPACE_ORT_THREADS"
_ORT_DTYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32,
               "tensor(bool)": np.bool_}


class TorchRunner:
    """A torch model method as a runner; ``bf16`` runs it under CPU autocast to bfloat16."""

    def __init__(self, fn: Callable[..., Any], *, device: str = "cpu", bf16: bool = False,
                 float_dtype: Any = None) -> None:
        self.fn, self.device, self.bf16, self.float_dtype = fn, device, bf16, float_dtype
        self.runtime = "bf16" if bf16 else "torch"

    def __call__(self, inputs: Mapping[str, Any]) -> np.ndarray:
        import contextlib

        import torch

        from jointspace.models.hf_inputs import features_tensor

        tensors = {k: _as_tensor(v).to(self.device) for k, v in inputs.items()}
        if "pixel_values" in tensors and self.float_dtype is not None:
            tensors["pixel_values"] = tensors["pixel_values"].to(self.float_dtype)
        autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16
                    else contextlib.nullcontext())
        with torch.inference_mode(), autocast:
            out = features_tensor(self.fn(**tensors))
        return out.detach().float().cpu().numpy()


def _as_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))


def ort_threads() -> int:
    """Intra-op threads for onnxruntime: $JOINTSPACE_ORT_THREADS, else every core."""
    value = os.environ.get(THREADS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


class OnnxRunner:
    """An exported tower in onnxruntime (CPU), fed only the inputs its graph declares.

    Optimising the graph takes most of a session's start (about 1 s of a cold text query), so the
    first session saves the optimised graph beside the export (``*.opt.onnx``, at the portable
    "extended" level) and later sessions load that with no optimisation pass.
    """

    def __init__(self, path: Path, runtime: str = "onnx", threads: int | None = None) -> None:
        import onnxruntime as ort

        path = Path(path)
        optimized = optimized_graph(path)
        opts = _session_options(threads)
        if optimized.is_file():
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            source = optimized
        else:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            tmp = optimized.with_name(f"{optimized.name}.{os.getpid()}.tmp")
            opts.optimized_model_filepath = str(tmp)
            source = path
        self.session = ort.InferenceSession(str(source), opts, providers=["CPUExecutionProvider"])
        if source == path:
            try:
                os.replace(tmp, optimized)
            except OSError:
                pass  # a read-only cache: every session optimises again, that is all
        self.inputs = {i.name: _ORT_DTYPES.get(i.type, np.float32)
                       for i in self.session.get_inputs()}
        self.runtime = runtime

    def __call__(self, inputs: Mapping[str, Any]) -> np.ndarray:
        feed = {name: np.ascontiguousarray(_as_numpy(inputs[name]), dtype=dtype)
                for name, dtype in self.inputs.items()}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32)


def optimized_graph(path: Path) -> Path:
    """Where the optimised graph of the export at ``path`` is cached."""
    return path.with_name(path.stem + ".opt.onnx")


def _session_options(threads: int | None) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or ort_threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning idle threads steal the cores the decode workers need between batches.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


def _as_numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") and not isinstance(value, np.ndarray) else value
