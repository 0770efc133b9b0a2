"""Quantization for Q-bit phase shifters and fixed-point precoders (Brevitas).

* :mod:`quant._core.quantizers` -- Brevitas fixed-point and phase quantizers;
* :mod:`hbf_edge.hw.precision` -- per-layer precision (model default + overrides, TOML/JSON);
* :mod:`quant.upga.qat` -- :class:`QuantUPGA`, the hardware datapath in torch with STEs;
* :mod:`quant.upga.train` -- quantization-aware retraining;
* :mod:`quant.upga.ptq` -- post-training baselines (round, refit);
* :mod:`quant.upga.modeldir` -- quantized model directories.

Importing the package is light (its registry only): the names below import their module, and
with it Brevitas and torch, on first use.
"""

from hbf_edge._lazy import lazy_exports
from hbf_edge.hw.precision import PrecisionConfig  # light: no torch
from hbf_edge.families._registry import Registry

# family -> quant stage (hbf_edge.families._protocol.QuantStage), one line per family
REGISTRY = Registry("quant", {
    "upga": "hbf_edge.quant.upga.stage:QUANT",
    "upganet": "hbf_edge.quant.upganet.stage:QUANT",
    "deepfp": "hbf_edge.quant.deepfp.stage:QUANT",
    "jcehb": "hbf_edge.quant.jcehb.stage:QUANT",
    "mser": "hbf_edge.quant.mser.stage:QUANT",
})

_PUBLIC = {
    "quantize": "_api",
    "load": "_api",
    "QuantUPGA": "upga.qat",
    "QuantOutput": "upga.qat",
    "FixedPointQuant": "_core.quantizers",
    "PhaseQuant": "_core.quantizers",
    "PTQ_METHODS": "upga.ptq",
    "ptq_design": "upga.ptq",
    "train_qat": "upga.train",
    "quantized_config": "upga.train",
    "save_quantized": "upga.modeldir",
    "load_quantized": "upga.modeldir",
}

__all__ = ["REGISTRY", "PrecisionConfig", *_PUBLIC]
__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
