"""Quantization-aware retraining of a float UPGA model (same loop as float training)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_like, validate_miso_channels
from hbf_edge.errors import ConfigError
from hbf_edge.modelfiles import ModelConfig
from hbf_edge.objectives import sum_rate
from hbf_edge.training import TrainConfig, fit
from hbf_edge.families.upga.model import UPGA

from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.quant.upga.qat import QuantUPGA

__all__ = ["train_qat", "quantized_config", "output_xi_for", "OUTPUT_STAGES"]

# the output stage's initial factor by name.  Measured with `hbf-edge study quantization`
# (README): the Wiener stage gains at 20 dB (with 8-bit internal layers it beats PTQ-refit at
# every Q <= 4) and loses at 10 dB, where the layers' sum-rate-seeking W beats a regularised
# zero forcing; so "none" stays the default
OUTPUT_STAGES = {"none": None, "wiener": 1.0, "zf": 0.0}


def output_xi_for(stage: str) -> float | None:
    """The output stage's initial factor: 1.0 for the transmit Wiener filter, 0.0 for zero
    forcing (QAT trains it from there), ``None`` for no output stage."""
    if stage not in OUTPUT_STAGES:
        raise ConfigError(f"unknown output stage {stage!r}; known: {list(OUTPUT_STAGES)}")
    return OUTPUT_STAGES[stage]


def quantized_config(float_config: ModelConfig, precision: PrecisionConfig, method: str,
                     settings: dict, history: list) -> ModelConfig:
    """The model config of a quantized model derived from a float one."""
    return ModelConfig(
        family=float_config.family,
        spec=precision.base,
        n_layers=float_config.n_layers,
        n_inner=float_config.n_inner,
        training=float_config.training,
        history=history,
        precision=precision.to_dict(),
        quantization={"method": method, **settings},
    )


def train_qat(
    model: UPGA, float_config: ModelConfig, precision: PrecisionConfig, config: TrainConfig,
    H_train: np.ndarray | None = None, progress: bool = True, output_xi: float | None = None,
) -> tuple[QuantUPGA, ModelConfig]:
    """Retrain ``model``'s step sizes with the hardware datapath in the loop.

    Starts from the float steps; the loss is ``-mean sum rate`` of the quantized design (phase
    codes at their exact angles, W in the precoder format), through Brevitas' STEs.
    ``config`` gives the loop settings (epochs, lr, batch, SNR range, seed, training channels).
    ``output_xi``: the output stage's initial factor (1 the transmit Wiener filter, 0 zero
    forcing; trained with the steps), ``None`` (default) for none.
    """
    spec = float_config.spec
    if H_train is None:
        H_train = saleh_valenzuela_like(float_config, config.train_size, config.seed)
    H_train = validate_miso_channels(H_train, spec.n_antennas, spec.n_users, name="training channels")
    qmodel = QuantUPGA(precision.layer_specs(), model.n_inner, model.mu.detach(), model.lam.detach(), xi=output_xi)

    def loss_fn(H: cplx.C, p_t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        out = qmodel.run(H, p_t, noise)
        return -sum_rate(H, out.F, out.W, noise).mean()

    history = fit(qmodel, loss_fn, H_train, config, progress, desc=f"QAT Q={precision.base.phase_bits}")
    settings = {"train": dataclasses.asdict(config)}
    return qmodel, quantized_config(float_config, precision, "qat", settings, history)
