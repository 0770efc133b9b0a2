"""Quantization for Q-bit phase shifters and fixed-point precoders (Brevitas).

* :mod:`quant.quantizers` -- Brevitas fixed-point and phase quantizers;
* :mod:`quant.config` -- per-layer precision (model default + overrides, TOML/JSON);
* :mod:`quant.qat` -- :class:`QuantUPGA`, the hardware datapath in torch with STEs;
* :mod:`quant.train` -- quantization-aware retraining;
* :mod:`quant.ptq` -- post-training baselines (round, refit);
* :mod:`quant.modeldir` -- quantized model directories.
"""

from .config import PrecisionConfig
from .modeldir import load_quantized, save_quantized
from .ptq import PTQ_METHODS, ptq_design
from .qat import QuantOutput, QuantUPGA
from .quantizers import FixedPointQuant, PhaseQuant
from .train import quantized_config, train_qat

__all__ = [
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
