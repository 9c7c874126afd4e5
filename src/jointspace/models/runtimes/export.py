"""Exporting a tower to ONNX (``torch.onnx.export``) and quantizing it to int8; needs torch.

A backend describes each tower as a ``TowerSpec``: the eager function, the inputs to trace with,
which input axes are dynamic, and probe inputs on which parity with eager fp32 is measured.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17


@dataclass
class TowerSpec:
    """One tower of a model, as the export and the parity check need it."""

    name: str  # "image" or "text"
    fn: Callable[..., Any]  # eager model method taking the inputs by name -> (n, dim)
    owner: Any  # the torch module holding fn's parameters
    example: dict[str, np.ndarray]  # traced inputs (batch >= 2, so the batch axis stays dynamic)
    dynamic: dict[str, dict[int, str]]  # input name -> {axis: name} of its variable axes
    probes: list[dict[str, np.ndarray]] = field(default_factory=list)  # parity / timing inputs
    float_dtype: Any = None  # cast pixel inputs to this dtype for the eager model


def export_onnx(spec: TowerSpec, path: Path) -> None:
    """Trace ``spec.fn`` into an ONNX graph at ``path`` (atomically)."""
    import torch

    names = list(spec.example)
    wrapper = _Named(spec.owner, spec.fn, names).eval()
    args = tuple(torch.from_numpy(np.ascontiguousarray(spec.example[n])) for n in names)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow
        torch.onnx.export(wrapper, args, str(tmp), input_names=names, output_names=["embeds"],
                          dynamic_axes={**spec.dynamic, "embeds": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    tmp.replace(path)


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization of the MatMul/Gemm weights (activations quantized per batch)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = dst.with_name(dst.name + ".tmp.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it logs a "consider pre-processing" warning on every call
    try:
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        root.setLevel(level)
    tmp.replace(dst)


def quantize_int8_weights(src: Path, dst: Path, block: int = 32) -> None:
    """Weight-only int8: MatMul weights in int8 blocks of ``block`` along the input
    (``MatMulNBits``, 8 bits), dequantized for fp32 compute; activations stay float.

    For towers where :func:`quantize_int8`'s one activation scale per tensor loses too much:
    all-MiniLM-L6-v2 reaches cosine 0.968 on short texts (0.992 on SciFact documents) under it,
    0.9994 like this, but it is no faster than fp32 ONNX (a quarter of the weight memory).
    Measured in benchmarks/README.md, "Runtimes".
    """
    import logging

    import onnx
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it logs every node it quantizes
    tmp = dst.with_name(dst.name + ".tmp.onnx")
    try:
        config = nbits.DefaultWeightOnlyQuantConfig(block_size=block, is_symmetric=True, bits=8)
        quantizer = nbits.MatMulNBitsQuantizer(onnx.load(str(src)), algo_config=config)
        quantizer.process()
        quantizer.model.save_model_to_file(str(tmp))
    finally:
        root.setLevel(level)
    tmp.replace(dst)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The smallest row-wise cosine between two (n, dim) arrays."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float(np.min(np.sum(a * b, axis=1)))


class _Named:
    """A module whose positional forward calls ``fn`` with the inputs by name."""

    def __new__(cls, owner: Any, fn: Callable[..., Any], names: list[str]) -> Any:
        import torch

        from jointspace.models.hf_inputs import features_tensor

        class Named(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.owner = owner

            def forward(self, *args: Any) -> Any:
                return features_tensor(fn(**dict(zip(names, args, strict=True))))

        return Named()
