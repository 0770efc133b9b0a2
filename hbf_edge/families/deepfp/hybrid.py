"""DeepFP as the digital stage of a hybrid beamformer: the fully digital WSR problem that fixed
analog phase codes leave (``deepfp.txt`` eq. 2 with ``N_r = d = 1``; the analog stage of
``upga_multiuser_hbf.txt`` eq. 1-5).

With unit-modulus analog weights ``F = exp(j 2 pi c / 2^Q)`` ``[N, M]`` and the user channels
``h_k`` (columns of ``H [N, K]``), user ``k`` receives ``h_k^H F W s + n``.  Writing ``F = Q R``
(thin QR, ``Q^H Q = I``) and ``W = sqrt(P_t) R^-1 V`` turns the budget ``||F W||_F^2 <= P_t``
into ``||V||_F^2 <= 1`` and the channel into ``sqrt(P_t / s2) h_k^H Q`` at unit noise: exactly
a single-cell DeepFP problem with ``N_t = M`` antennas, ``K`` single-antenna users and one
stream each, in the dataset units of :mod:`hbf_edge.families.deepfp.network`.  The sum rate is unchanged by
the substitution (tested against the firmware simulator's own rate).

A bundle's digital precoder is stored as ``W_hw = W / sqrt(P_t / N)`` (eq. 9's normalisation,
:func:`firmware_sim.physics.digital_precoder`), so ``W_hw = sqrt(N) R^-1 V``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hbf_edge.errors import ConfigError, InvalidChannelError, ShapeError

__all__ = ["HybridProblem", "analog_precoder", "effective_problem", "hybrid_precoder", "precoder_words", "upga_codes",
           "hybrid_dataset"]


@dataclasses.dataclass(frozen=True)
class HybridProblem:
    """``H [B, 1, K, 1, 1, M]`` (DeepFP layout, unit noise and budget) and the QR factor
    ``R [B, M, M]`` of the analog precoder that maps ``V`` back to ``W``."""

    H: np.ndarray
    R: np.ndarray


def analog_precoder(codes: np.ndarray, phase_bits: int) -> np.ndarray:
    """``F = exp(j 2 pi c / 2^Q)`` of phase codes ``[..., N, M]`` (the code book of the spec)."""
    if isinstance(phase_bits, bool) or not isinstance(phase_bits, (int, np.integer)) or not 1 <= phase_bits <= 16:
        raise ConfigError(f"phase_bits must be an integer in 1..16, got {phase_bits!r}")
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer) or codes.min(initial=0) < 0 or codes.max(initial=0) >= 1 << phase_bits:
        raise ConfigError(f"phase codes must be integers in 0..{(1 << phase_bits) - 1}")
    return np.exp(2j * np.pi * codes / (1 << phase_bits))


def effective_problem(H: np.ndarray, codes: np.ndarray, phase_bits: int, p_t: np.ndarray, noise: np.ndarray
                      ) -> HybridProblem:
    """The DeepFP problem of channels ``H [B, N, K]`` behind analog codes ``[B, N, M]`` at
    transmit powers ``p_t [B]`` and noise powers ``noise [B]`` (module notes)."""
    H = np.asarray(H)
    F = analog_precoder(codes, phase_bits)
    if H.ndim != 3 or F.ndim != 3 or F.shape[:2] != H.shape[:2] or F.shape[2] > F.shape[1]:
        raise ShapeError(f"H must be [B, N, K] and codes [B, N, M <= N], got {list(H.shape)} and {list(F.shape)}")
    B = H.shape[0]
    p_t, noise = np.broadcast_to(p_t, (B,)).astype(np.float64), np.broadcast_to(noise, (B,)).astype(np.float64)
    if not (np.all(np.isfinite(p_t)) and np.all(p_t > 0) and np.all(np.isfinite(noise)) and np.all(noise > 0)):
        raise ConfigError("powers must be finite and > 0")
    if not np.all(np.isfinite(H)):
        raise InvalidChannelError("H holds NaN or inf")
    Q, R = np.linalg.qr(F)
    diag = np.abs(np.diagonal(R, axis1=1, axis2=2))
    if np.any(diag <= 1e-9 * np.sqrt(F.shape[1])):
        raise InvalidChannelError(f"channel {int(np.argwhere(diag <= 1e-9 * np.sqrt(F.shape[1]))[0, 0])}: the "
                                  "analog codes give a rank-deficient F (repeated RF chains)")
    G = np.einsum("bnk,bnm->bkm", H.conj(), Q) * np.sqrt(p_t / noise)[:, None, None]  # rows h_k^H Q
    if np.any(np.all(G == 0, axis=2)):
        raise InvalidChannelError("a user's effective channel is all zero")
    return HybridProblem(np.ascontiguousarray(G[:, None, :, None, None, :]), R)


def hybrid_precoder(V: np.ndarray, R: np.ndarray, n_antennas: int) -> np.ndarray:
    """``W_hw = sqrt(N) R^-1 V`` ``[B, M, K]`` from DeepFP's ``V [B, 1, K, M, 1]``."""
    V = np.asarray(V)
    if V.ndim != 5 or V.shape[1] != 1 or V.shape[4] != 1 or V.shape[0] != R.shape[0] or V.shape[3] != R.shape[1]:
        raise ShapeError(f"V must be [B, 1, K, M, 1] matching R {list(R.shape)}, got {list(V.shape)}")
    Vm = np.swapaxes(V[:, 0, :, :, 0], 1, 2)  # [B, M, K]
    return np.sqrt(n_antennas) * np.linalg.solve(R, Vm)


def precoder_words(W: np.ndarray, word_bits: int, frac_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``W [B, M, K]`` on a signed ``word_bits`` grid with ``frac_bits`` fraction bits, rounded
    half to even, saturating: ``(re, im, saturated words per beam [B])``."""
    if not 2 <= word_bits <= 32 or not 0 <= frac_bits < word_bits:
        raise ConfigError(f"need 2 <= word bits <= 32 and 0 <= fraction bits < word bits, got {word_bits}, {frac_bits}")
    lo, hi = -(1 << (word_bits - 1)), (1 << (word_bits - 1)) - 1
    out, sat = [], np.zeros(W.shape[0], np.int64)
    for part in (W.real, W.imag):
        q = np.rint(part * 2.0 ** frac_bits)
        sat += np.count_nonzero((q < lo) | (q > hi), axis=(1, 2))
        out.append(np.clip(q, lo, hi).astype(np.int32))
    return out[0], out[1], sat


def upga_codes(model_dir, H: np.ndarray, snr_db: float, noise: float = 1.0) -> tuple[np.ndarray, int]:
    """The final phase codes ``[B, N, M]`` of a quantized UPGA model's hardware kernel on ``H``
    at ``snr_db`` (what its bundle's ``beams.npz`` holds), and their phase bits."""
    from hbf_edge.families.upga.hardware import hardware_design

    B = H.shape[0]
    res = hardware_design(model_dir, H, np.full(B, noise * 10.0 ** (snr_db / 10.0)), np.full(B, noise))
    return res.codes, res.phase_bits


def hybrid_dataset(model_dir, count: int, snr_db: float, seed: int = 0) -> dict:
    """A DeepFP dataset (:func:`hbf_edge.families.deepfp.network.save_dataset` layout, 70/15/15 split) of the
    effective problems behind a quantized UPGA model's codes: Saleh-Valenzuela channels of the
    model's sizes (eq. 2-3 of the UPGA paper, its training paths), seeded."""
    from hbf_edge.channels import saleh_valenzuela_like
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.families.deepfp.network import NetworkConfig, split_indices

    if isinstance(count, bool) or not isinstance(count, int) or count < 3:
        raise ConfigError(f"count must be an integer >= 3, got {count!r}")
    config, _ = read_model_dir(model_dir)
    s = config.spec
    H = saleh_valenzuela_like(config, count, seed)
    codes, bits = upga_codes(model_dir, H, snr_db)
    p_t = 10.0 ** (snr_db / 10.0)
    problem = effective_problem(H, codes, bits, np.full(count, p_t), np.ones(count))
    net = NetworkConfig(n_cells=1, n_users=s.n_users, n_tx=s.n_rf, n_rx=1, n_streams=1)
    return {"H": problem.H, **split_indices(count, seed), "config": net, "seed": seed,
            "hybrid": {"analog_model": str(model_dir), "snr_db": float(snr_db), "phase_bits": int(bits),
                       "n_antennas": s.n_antennas}}
