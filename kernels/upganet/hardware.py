"""Hardware mode of the UPGANet (JCAS) forward: bit-accurate fixed point with Q-bit phase codes.

The integer datapath is documented in :mod:`kernels.upganet._fixed` (the UPGA datapath of
:mod:`kernels.upga._fixed` plus the sensing term).  This wrapper is the float/integer boundary:
on top of :func:`kernels.upga.hardware.prepare_hw_inputs` (channel, ``s2 N / P_t``, the step words,
per-layer tables) it quantises ``Psi_n = N Psi_1`` (channel format), the per-channel sensing
weights ``kappa_F = 2 omega ln2 (P_t / N)^2`` and ``kappa_W = eta kappa_F`` (step format), and
the codes of the targets' steering phases for the initialisation (17) (the spec's code rule,
layer 0's phase bits).  It returns a :class:`kernels.upga.hardware.HardwareResult`.
"""

from __future__ import annotations

import math
import os

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.hw.spec import HardwareSpec, phase_to_code

from hbf_edge.kernels._core.linalg_fixed import WORD
from hbf_edge.kernels.upganet import _fixed as _k
from hbf_edge.kernels.upga.hardware import HardwareResult, hardware_result, prepare_hw_inputs
from hbf_edge.kernels.upganet.forward import UpganetModel, load_upganet

__all__ = ["upganet_forward_hw", "load_upganet_hw", "sensing_words", "sensing_weights", "UPGANET_COUNTER_SITES"]

UPGANET_COUNTER_SITES = ("input",) + _k.SITES
_XI = 1.0 / math.log(2.0)


def sensing_words(model: UpganetModel, spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model constants of the sensing datapath: ``Psi_n = N Psi_1`` (real and imaginary
    words, channel format, ``[N, N]``) and the initial codes of the first ``M - K`` targets'
    steering phases (eq. 17, ``spec``'s phase bits and code rule, ``[N, M - K]``)."""
    N, M, K = spec.n_antennas, spec.n_rf, spec.n_users
    psi1 = np.asarray(model.psi1)
    if psi1.shape != (N, N) or not np.all(np.isfinite(psi1)):
        raise ShapeError(f"psi1 must be a finite [N, N] = [{N}, {N}] matrix, got {list(psi1.shape)}")
    steer = np.asarray(model.steer)
    if steer.ndim != 2 or steer.shape[0] != N or steer.shape[1] < M - K or not np.all(np.isfinite(steer)):
        raise ConfigError(f"steer must be a finite [N, P] matrix with P >= M - K = {M - K}, got {list(steer.shape)}")
    if model.n_rf != M:
        raise ConfigError(f"the model has M={model.n_rf} RF chains, the spec M={M}")
    psi_r, o1 = spec.channel.quantize(N * psi1.real)
    psi_i, o2 = spec.channel.quantize(N * psi1.imag)
    if o1.any() or o2.any():
        raise ConfigError("N * psi1 does not fit the channel format (|entries| must be <= 1 for a unit-power Psi_1)")
    steer_codes = phase_to_code(np.angle(steer[:, : M - K]), spec.phase_bits).astype(np.int64)
    return psi_r, psi_i, np.ascontiguousarray(steer_codes)


def sensing_weights(model: UpganetModel, spec: HardwareSpec, p_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel ``kappa_F = 2 omega ln2 (P_t / N)^2`` and ``kappa_W = eta kappa_F`` (step
    words) and their overflow events."""
    kappa_f = 2.0 * model.omega * math.log(2.0) * (p_t / spec.n_antennas) ** 2
    kf, o1 = spec.step.quantize(kappa_f)
    kw, o2 = spec.step.quantize(kappa_f * model.eta)
    return kf, kw, o1.astype(np.int64) + o2.astype(np.int64)


def load_upganet_hw(model_dir: str | os.PathLike) -> tuple[UpganetModel, HardwareSpec]:
    """A quantized UPGANet model directory as kernel inputs: the model and its hardware spec
    (the model's formats with the quantized phase bits and output precoder format)."""
    from hbf_edge.families import runs_on
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(model_dir)
    if not runs_on(config.family, "upganet"):
        raise ConfigError(f"{model_dir} holds a {config.family} model, not upganet")
    if config.precision is None:
        raise ConfigError(f"{model_dir} is a float model: the hardware kernel needs a quantized one "
                          "(`hbf-edge quantize`)")
    precision = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers)
    if not precision.uniform:
        raise ConfigError(f"{model_dir}: the UPGANet datapath takes one precision for all layers, not [layers]")
    return load_upganet(model_dir), precision.base


def upganet_forward_hw(h_re, h_im, p_t, noise, model: UpganetModel, spec: HardwareSpec,
                       layer_specs=None) -> HardwareResult:
    """Bit-accurate UPGANet forward (initialisation eq. 17, then I layers of eq. 14b, 7, 15, 9).

    Parameters
    ----------
    h_re, h_im : ndarray of float64, [B, N, K]
        Channels (quantised here to the spec's ``channel`` format).
    p_t, noise : ndarray of float64, [B]
        Transmit and noise powers (> 0).
    model : UpganetModel
        Step sizes ``mu [I, J]``, ``lam [I]`` and the sensing task (``psi1``, ``steer``,
        ``omega``, ``eta``), e.g. from :func:`kernels.load_upganet`.
    spec : HardwareSpec
        Sizes (must match H and the model), phase bits (1..8) and formats.
    layer_specs : list of HardwareSpec, optional
        One spec per layer, as in :func:`kernels.upga_forward_hw`.

    Returns
    -------
    HardwareResult
        Codes, W words (``||F W_hw||_F^2 = N``), and overflow counters per site of
        ``UPGANET_COUNTER_SITES``.
    """
    x = prepare_hw_inputs(h_re, h_im, p_t, noise, np.asarray(model.mu) * _XI, np.asarray(model.lam) * _XI, spec,
                          layer_specs)
    B, N, K = x.h_r.shape
    M = spec.n_rf
    psi_r, psi_i, steer_codes = sensing_words(model, x.layers[0])
    psi_r, psi_i = psi_r.astype(WORD), psi_i.astype(WORD)  # channel words: Psi_n X on 32-bit lanes (residual_fx)
    kf, kw, over = sensing_weights(model, spec, x.p_t)
    codes = np.empty((B, N, M), np.int64)
    w_r = np.empty((B, M, K), np.int64)
    w_i = np.empty((B, M, K), np.int64)
    counts = np.zeros((B, len(_k.SITES)), np.int64)
    _k.forward_fx_batch(x.h_r, x.h_i, x.noise, x.mu, x.lam, kf, kw, psi_r, psi_i, steer_codes, x.lut_c, x.lut_s,
                        x.n_codes, x.fms, codes, w_r, w_i, counts)
    return hardware_result(x, codes, w_r, w_i, counts, _k.SITES, over)
