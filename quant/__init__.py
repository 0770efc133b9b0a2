"""Quantization for Q-bit phase shifters and fixed-point precoders (Brevitas).

* :mod:`quant._core.quantizers` -- Brevitas fixed-point and phase quantizers;
* :mod:`hbf_edge.hw.precision` -- per-layer precision (model default + overrides, TOML/JSON);
* :mod:`quant.upga.qat` -- :class:`QuantUPGA`, the hardware datapath in torch with STEs;
* :mod:`quant.upga.train` -- quantization-aware retraining;
* :mod:`quant.upga.ptq` -- post-training baselines (round, refit);
* :mod:`quant.upga.modeldir` -- quantized model directories.
"""

from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.quant._api import load, quantize
from hbf_edge.quant.upga.modeldir import load_quantized, save_quantized
from hbf_edge.quant.upga.ptq import PTQ_METHODS, ptq_design
from hbf_edge.quant.upga.qat import QuantOutput, QuantUPGA
from hbf_edge.quant._core.quantizers import FixedPointQuant, PhaseQuant
from hbf_edge.quant.upga.train import quantized_config, train_qat

from hbf_edge.families._registry import Registry

# family -> quant stage (hbf_edge.families._protocol.QuantStage), one line per family
REGISTRY = Registry("quant", {
    "upga": "hbf_edge.quant.upga.stage:QUANT",
    "upganet": "hbf_edge.quant.upganet.stage:QUANT",
    "deepfp": "hbf_edge.quant.deepfp.stage:QUANT",
    "jcehb": "hbf_edge.quant.jcehb.stage:QUANT",
    "mser": "hbf_edge.quant.mser.stage:QUANT",
})

__all__ = [
    "REGISTRY",
    "quantize",
    "load",
    "PrecisionConfig",
    "QuantUPGA",
    "QuantOutput",
    "FixedPointQuant",
    "PhaseQuant",
    "PTQ_METHODS",
    "ptq_design",
    "train_qat",
    "quantized_config",
    "save_quantized",
    "load_quantized",
]
