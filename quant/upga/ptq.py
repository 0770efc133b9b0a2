"""Post-training quantization of a float UPGA model's output: the baselines QAT must beat.

* ``round``: the float design's phases rounded to Q-bit codes (:func:`phase_to_code`), W kept
  and renormalised to ``||F_q W||_F^2 = P_t``;
* ``refit``: the phases rounded likewise, then W refitted as zero forcing on the effective
  channel ``H^H F_q`` (``W = G^H (G G^H)^-1``, ``G = H^H F_q``), power-normalised.

In both, W is then stored in the precoder format in the hardware's normalised units
(``W_hw = sqrt(N / P_t) W``, the units of ``kernels.upga_forward_hw``), so PTQ and QAT designs
are quantized alike.  Numpy, complex128; the float forward runs in torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hbf_edge import cplx
from hbf_edge.errors import ConfigError
from hbf_edge.hw.spec import HardwareSpec, code_to_phase, phase_to_code
from hbf_edge.families.upga.model import UPGA

__all__ = ["PTQ_METHODS", "ptq_design", "ptq_of_design", "ptq_phases", "ptq_words", "ptq_refit_search"]

PTQ_METHODS = ("round", "refit")


def _normalize(F: np.ndarray, W: np.ndarray, p_t: np.ndarray) -> np.ndarray:
    return W * (np.sqrt(p_t) / np.linalg.norm(F @ W, axis=(1, 2)))[:, None, None]


def ptq_design(
    model: UPGA, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, spec: HardwareSpec, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PTQ of the float model's design for channels ``H [B, N, K]``.

    Returns
    -------
    codes : int64 [B, N, M]; F : complex [B, N, M] (code angles); W : complex [B, M, K] (true scale)
    """
    if method not in PTQ_METHODS:
        raise ConfigError(f"PTQ method must be one of {PTQ_METHODS}, got {method!r}")
    with torch.no_grad():
        (F, W), _ = model.run(cplx.from_complex(torch.from_numpy(H)), torch.from_numpy(p_t), torch.from_numpy(noise))
    return ptq_of_design(cplx.to_complex(F).numpy(), cplx.to_complex(W).numpy(), H, p_t, spec, method)


def ptq_of_design(F: np.ndarray, W: np.ndarray, H: np.ndarray, p_t: np.ndarray, spec: HardwareSpec, method: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PTQ of a float design ``F [B, N, M]``, ``W [B, M, K]`` (complex) for channels ``H``: what
    :func:`ptq_design` does after the float forward."""
    if spec.phase_bits is None:
        raise ConfigError("PTQ needs phase_bits")
    codes, Fq, W = ptq_phases(F, W, H, p_t, spec.phase_bits, method)
    return codes, Fq, ptq_words(W, p_t, H.shape[1], spec.precoder)


def ptq_phases(F: np.ndarray, W: np.ndarray, H: np.ndarray, p_t: np.ndarray, phase_bits: int, method: str
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first half of PTQ: Q-bit codes, their ``F_q`` and the (refitted) W normalised to
    ``||F_q W||_F^2 = P_t``, before W is rounded to its word (the sweep computes it once for
    every word length)."""
    if method not in PTQ_METHODS:
        raise ConfigError(f"PTQ method must be one of {PTQ_METHODS}, got {method!r}")
    codes = phase_to_code(np.angle(F), phase_bits)
    Fq = np.exp(1j * code_to_phase(codes, phase_bits))
    if method == "refit":
        G = np.einsum("bnk,bnm->bkm", H.conj(), Fq)  # H^H F_q  [B, K, M]
        Gh = G.conj().transpose(0, 2, 1)
        W = Gh @ np.linalg.inv(G @ Gh)
    return codes, Fq, _normalize(Fq, W, p_t)


def ptq_words(W: np.ndarray, p_t: np.ndarray, n_antennas: int, precoder: Any) -> np.ndarray:
    """The second half of PTQ: the true-scale ``W [B, M, K]`` rounded to the ``precoder`` format
    in the hardware's normalised units (``W_hw = sqrt(N / P_t) W``) and returned at true scale."""
    rho = np.sqrt(p_t / n_antennas)[:, None, None]
    wr, _ = precoder.quantize((W / rho).real)
    wi, _ = precoder.quantize((W / rho).imag)
    return (precoder.to_float(wr) + 1j * precoder.to_float(wi)) * rho


def ptq_refit_search(model: Any, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray, spec: Any,
                     search: Any) -> tuple[np.ndarray, np.ndarray]:
    """The PTQ-refit baseline given the same code search as the hardware datapath: the float
    model's phases rounded to Q bits (``quant.upga.ptq``), then the kernel's search with the zero
    forcing output stage (``xi = 0``: refit's W), in ``spec``'s formats.  Returns the codes
    ``[B, N, M]`` and the true W ``[B, M, K]``."""
    from hbf_edge.kernels.upga.hardware import COUNTER_SITES, prepare_hw_inputs, run_search

    codes, _, _ = ptq_design(model, H, p_t, noise, spec, "round")
    no_layer = np.zeros((1, 1)), np.zeros(1)  # the search reads only the channel, powers and tables
    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, *no_layer, spec,
                          [spec], xi=0.0)
    B, N, M = codes.shape
    K = H.shape[2]
    codes = np.ascontiguousarray(codes, np.int64)
    w_r, w_i = np.zeros((B, M, K), np.int64), np.zeros((B, M, K), np.int64)
    run_search(x, search, codes, w_r, w_i, np.zeros((B, len(COUNTER_SITES) - 1), np.int64))
    W = (spec.precoder.to_float(w_r) + 1j * spec.precoder.to_float(w_i)) * np.sqrt(p_t / N)[:, None, None]
    return codes, W
