"""Quantized model directories: the float layout plus ``precision`` and ``quantization``."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from hbf_edge.errors import ModelDirError
from hbf_edge.modelfiles import ModelConfig, read_model_dir, write_model_dir

from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.quant.upga.qat import QuantUPGA

__all__ = ["save_quantized", "load_quantized"]


def save_quantized(model: QuantUPGA, config: ModelConfig, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a QAT (or PTQ) model: its step sizes, spec, per-layer precision and method, and
    the output stage's factor (``quantization.output_xi``) when it has one."""
    if config.precision is None or config.quantization is None:
        raise ModelDirError("a quantized model config needs 'precision' and 'quantization'")
    arrays = {"mu": model.mu.detach().numpy(), "lam": model.lam.detach().numpy()}
    quantization = {k: v for k, v in config.quantization.items() if k != "output_xi"}
    if model.output_xi is not None:
        quantization["output_xi"] = model.output_xi
    config = dataclasses.replace(config, quantization=quantization)
    return write_model_dir(path, config, arrays, overwrite=overwrite)


def load_quantized(path: str | os.PathLike) -> tuple[QuantUPGA, ModelConfig, PrecisionConfig]:
    """Rebuild the quantized network of a model directory written by :func:`save_quantized`."""
    import torch

    config, arrays = read_model_dir(path)
    if config.precision is None:
        raise ModelDirError(f"{path} holds a float model (no precision config): quantize it first")
    precision = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers)
    model = QuantUPGA(precision.layer_specs(), config.n_inner, torch.from_numpy(arrays["mu"]),
                      torch.from_numpy(arrays["lam"]), xi=config.output_xi)
    return model, config, precision
