"""Replay an MSER transceiver bundle: K + 1 front ends per channel, the applied beams scored by SER.

A design (one per channel) programs the BS's phase shifters (N_t x R_t) and every user's
(N_r x R_r; the bundle's user codes are U_k, R_r x N_r, element (r, n) joining antenna n to RF
chain r, so the user's front end takes their transpose) with direct writes, reads back the
applied codes, and scores the exact symbol error rate of the applied beams with the bundle's
digital words -- its own numpy implementation of the semi-analytic SER (QPSK over every transmit
vector; 16-QAM over the bundle's ``ser_vectors``, the ones the toolkit averaged over), for
comparison with the toolkit's score of the same words.  Numpy and the standard library only.
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._bundle import SCHEMA_VERSION, check_distinct_pairs, int_array, load_calibration, read_members, word_format
from ._verify import SimulatorError, read_json
from .array import FrontEnd
from .physics import element_weights

__all__ = ["replay_transceiver", "bundle_kind", "symbol_error_rate", "symbol_error_rate_16qam"]

_ERFC = np.frompyfunc(math.erfc, 1, 1)
MAX_SER_VECTORS = 1 << 16  # a bundle's 16-QAM transmit vectors (the toolkit writes at most 4096)


def bundle_kind(path: str | os.PathLike) -> str:
    """The manifest's ``scoring`` (``superframe``, ``transceiver``), or ``beams`` for the other bundles."""
    mpath = Path(path) / "manifest.json"
    if not mpath.is_file():
        return "beams"
    manifest = read_json(mpath, "bundle manifest")
    kind = manifest.get("scoring") if isinstance(manifest, dict) else None
    return kind if kind in ("superframe", "transceiver") else "beams"


def symbol_error_rate(H: np.ndarray, F: np.ndarray, V: np.ndarray, U: np.ndarray, W: np.ndarray,
                      sigma: float) -> np.ndarray:
    """Exact QPSK SER per channel for Gaussian noise: for every transmit vector ``s`` of the 4^D
    and every stream, ``p_R + p_I - p_R p_I`` with ``p_R = Q(Re b Re y / rho)``,
    ``y = w^H U_k H_k F V s``, ``rho = sigma ||U_k^H w|| / sqrt 2``; averaged over vectors and streams."""
    B, K, Rr, Dk = W.shape
    D = K * Dk
    points = (1 + 1j, 1 - 1j, -1 + 1j, -1 - 1j)
    S = np.array(list(itertools.product(points, repeat=D)), dtype=np.complex128).T  # [D, 4^D]
    out = np.zeros(B)
    for k in range(K):
        E = np.conj(np.swapaxes(W[:, k], 1, 2)) @ U[:, k] @ H[:, k] @ F @ V  # [B, Dk, D]
        Y = E @ S  # [B, Dk, 4^D]
        rho = sigma * np.linalg.norm(np.conj(np.swapaxes(U[:, k], 1, 2)) @ W[:, k], axis=1) / math.sqrt(2)  # [B, Dk]
        b = S[k * Dk:(k + 1) * Dk][None]
        with np.errstate(divide="ignore", invalid="ignore"):
            zr = b.real * Y.real / rho[..., None]
            zi = b.imag * Y.imag / rho[..., None]
        p_r = 0.5 * _ERFC(zr / math.sqrt(2)).astype(np.float64)
        p_i = 0.5 * _ERFC(zi / math.sqrt(2)).astype(np.float64)
        out += np.sum(np.mean(p_r + p_i - p_r * p_i, axis=-1), axis=-1)
    return out / D


def symbol_error_rate_16qam(H: np.ndarray, F: np.ndarray, V: np.ndarray, U: np.ndarray, W: np.ndarray,
                            sigma: float, S: np.ndarray) -> np.ndarray:
    """Exact 16-QAM SER per channel for Gaussian noise, averaged over the transmit vectors ``S
    [D, J]`` (levels +-1, +-3) and the streams: stream (k, i) is read after the rotation by
    ``conj(c) / |c|``, ``c = y``'s gain on its own symbol, and each real part errs when it leaves
    the region ``(|c| (l - 1), |c| (l + 1)]`` of its level ``l`` (the outer regions open), with
    the noise std ``rho = sigma ||U_k^H w|| / sqrt 2``; ``p_R + p_I - p_R p_I``."""
    B, K, Rr, Dk = W.shape
    out = np.zeros(B)
    for k in range(K):
        E = np.conj(np.swapaxes(W[:, k], 1, 2)) @ U[:, k] @ H[:, k] @ F @ V  # [B, Dk, D]
        rho = sigma * np.linalg.norm(np.conj(np.swapaxes(U[:, k], 1, 2)) @ W[:, k], axis=1) / math.sqrt(2)  # [B, Dk]
        for i in range(Dk):
            c = E[:, i, k * Dk + i]  # [B]
            mag = np.abs(c)
            y = (E[:, i, :] @ S) * (np.conj(c) / np.maximum(mag, 1e-300))[:, None]  # [B, J]
            probs = []
            for part, level in ((y.real, S[k * Dk + i].real), (y.imag, S[k * Dk + i].imag)):
                m, r = mag[:, None], rho[:, i, None]
                with np.errstate(divide="ignore", invalid="ignore"):
                    lo = 0.5 * _ERFC((part - m * (level - 1)) / (r * math.sqrt(2))).astype(np.float64)
                    hi = 0.5 * _ERFC((m * (level + 1) - part) / (r * math.sqrt(2))).astype(np.float64)
                probs.append(np.where(level > -3, lo, 0.0) + np.where(level < 3, hi, 0.0))
            out += np.mean(probs[0] + probs[1] - probs[0] * probs[1], axis=-1)
    return out / (K * Dk)


def _table(info: dict, side: str) -> tuple[int, np.ndarray, np.ndarray]:
    try:
        q = int(info["phase_bits"][side])
        vm_i = np.asarray(info["vector_modulator"][side]["i"], np.int64)
        vm_q = np.asarray(info["vector_modulator"][side]["q"], np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulatorError(f"transceiver.json: phase_bits.{side} and vector_modulator.{side} are needed") from exc
    if not (1 <= q <= 16 and vm_i.shape == vm_q.shape == (1 << q,)):
        raise SimulatorError(f"transceiver.json: the {side} phase bits or vector-modulator table are out of range")
    check_distinct_pairs(vm_i, vm_q, f"the {q}-bit vector-modulator table of the {side}")
    return q, vm_i, vm_q


def replay_transceiver(bundle: str | os.PathLike, key: bytes | None = None, channels_per_chip: int = 4,
                       chips_per_bus: int = 4, spi_hz: float = 25e6,
                       calibration: str | os.PathLike | None = None) -> dict[str, Any]:
    """Program every channel's design into the BS's and the users' front ends, read them back,
    score the applied beams (module notes).

    Returns
    -------
    report : dict
        ``n_beams`` (designs), ``code_mismatches`` per front end (summed over designs),
        ``latency_us`` (one design's direct write: the BS, the slowest user), ``ser`` (the applied
        beams' mean SER against the bundle's kernel score, and the largest difference per design),
        ``rejected_transactions``.
    """
    path = Path(bundle)
    if not (path / "manifest.json").is_file():
        raise SimulatorError(f"{path} has no manifest.json: not a bundle")
    manifest, info, beams = read_members(path, "transceiver.json", key)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise SimulatorError(f"a transceiver bundle has schema {SCHEMA_VERSION}, not {manifest.get('schema_version')!r}")
    try:
        z = info["sizes"]
        Nt, Rt, K, Nr, Rr, Dk = (int(z[k]) for k in ("n_tx", "n_rf_tx", "n_users", "n_rx", "n_rf_rx", "n_streams"))
        sigma = float(info["noise_std"])
        modulation = z.get("constellation", "qpsk")
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulatorError(f"transceiver.json is incomplete: {exc!r}") from exc
    if modulation not in ("qpsk", "16qam"):
        raise SimulatorError(f"the controller scores QPSK and 16-QAM designs; this bundle's are {modulation}")
    if not (math.isfinite(sigma) and sigma > 0 and (K * Dk <= 7 or modulation == "16qam")):
        raise SimulatorError("transceiver.json: the noise must be finite and > 0, and D = K D_k at most 7 (QPSK)")
    q_bs, vm_bs_i, vm_bs_q = _table(info, "bs")
    q_ue, vm_ue_i, vm_ue_q = _table(info, "ue")
    H = beams.get("H")
    if H is None or H.dtype.kind != "c" or H.ndim != 4 or H.shape[1:] != (K, Nr, Nt) or not np.all(np.isfinite(H)):
        raise SimulatorError(f"beams.npz: H must be finite complex [B, {K}, {Nr}, {Nt}]")
    B = H.shape[0]
    codes_bs = int_array(beams, "codes_bs", (B, Nt, Rt), 0, (1 << q_bs) - 1)
    codes_ue = int_array(beams, "codes_ue", (B, K, Rr, Nr), 0, (1 << q_ue) - 1)
    (vb, vf) = word_format(info, "precoder", "transceiver.json")
    (wb, wf) = word_format(info, "combiner", "transceiver.json")
    V_w = int_array(beams, "V", (B, Rt, K * Dk, 2), -(1 << (vb - 1)), (1 << (vb - 1)) - 1)
    W_w = int_array(beams, "W", (B, K, Rr, Dk, 2), -(1 << (wb - 1)), (1 << (wb - 1)) - 1)
    S_qam = None
    if modulation == "16qam":
        S_qam = beams.get("ser_vectors")
        if (S_qam is None or S_qam.dtype.kind != "c" or S_qam.ndim != 2 or S_qam.shape[0] != K * Dk
                or not 0 < S_qam.shape[1] <= MAX_SER_VECTORS or not np.all(np.isin(S_qam.real, (-3, -1, 1, 3)))
                or not np.all(np.isin(S_qam.imag, (-3, -1, 1, 3)))):
            raise SimulatorError(f"beams.npz: ser_vectors must be 16-QAM vectors [{K * Dk}, J] (levels +-1, +-3; "
                                 f"1 <= J <= {MAX_SER_VECTORS})")
    kernel_ser = beams.get("kernel_ser")
    if kernel_ser is None or kernel_ser.shape != (B,) or not np.all(np.isfinite(kernel_ser)):
        raise SimulatorError(f"beams.npz: kernel_ser must be finite [{B}]")

    if calibration is not None and q_bs != q_ue:
        raise SimulatorError(f"one calibration table serves every front end, but the BS has {q_bs}-bit and the users "
                             f"{q_ue}-bit codes")
    bs = FrontEnd(Nt, Rt, channels_per_chip, chips_per_bus, 1, spi_hz)
    users = [FrontEnd(Nr, Rr, channels_per_chip, chips_per_bus, 1, spi_hz) for _ in range(K)]
    errors = (None, None) if calibration is None else load_calibration(calibration, 1 << q_bs)
    F = np.empty((B, Nt, Rt), np.complex128)
    U = np.empty((B, K, Rr, Nr), np.complex128)
    mismatches = {"bs": 0, **{f"user{k}": 0 for k in range(K)}}
    latency_bs = latency_ue = 0.0
    for b in range(B):
        seq = bs.direct_sequence(codes_bs[b], vm_bs_i, vm_bs_q)
        bs.run(seq)
        latency_bs = max(latency_bs, bs.latency_s(seq))
        applied = bs.applied_codes(vm_bs_i, vm_bs_q)
        mismatches["bs"] += int(np.count_nonzero(applied != codes_bs[b]))
        F[b] = element_weights(applied, bs.applied_registers()[1], q_bs, *errors)
        for k, front in enumerate(users):
            wanted = codes_ue[b, k].T  # [N_r, R_r]: antenna n, RF chain r
            seq = front.direct_sequence(wanted, vm_ue_i, vm_ue_q)
            front.run(seq)
            latency_ue = max(latency_ue, front.latency_s(seq))
            applied = front.applied_codes(vm_ue_i, vm_ue_q)
            mismatches[f"user{k}"] += int(np.count_nonzero(applied != wanted))
            U[b, k] = element_weights(applied, front.applied_registers()[1], q_ue, *errors).T
    V = (V_w[..., 0] + 1j * V_w[..., 1]) * 2.0 ** -vf
    W = (W_w[..., 0] + 1j * W_w[..., 1]) * 2.0 ** -wf
    ser = (symbol_error_rate(H, F, V, U, W, sigma) if S_qam is None
           else symbol_error_rate_16qam(H, F, V, U, W, sigma, S_qam))
    fronts = [bs, *users]
    return {
        "bundle": str(bundle), "n_beams": B, "kind": "transceiver",  # one design (codes and words) per channel
        "array": {"N_t": Nt, "R_t": Rt, "users": K, "N_r": Nr, "R_r": Rr, "streams": Dk, "phase_bits_bs": q_bs,
                  "phase_bits_ue": q_ue, "channels_per_chip": channels_per_chip, "chips_per_bus": chips_per_bus,
                  "spi_hz": spi_hz},
        "authenticity": "HMAC checked with the given key" if key is not None else "not checked (no key)",
        "calibration": "ideal" if calibration is None else str(calibration),
        "code_mismatches": mismatches,
        "latency_us": {"direct_write_bs": latency_bs * 1e6, "direct_write_users_max": latency_ue * 1e6},
        "ser": {"applied_mean": float(ser.mean()), "kernel_mean": float(kernel_ser.mean()),
                "largest_difference": float(np.abs(ser - kernel_ser).max()), "snr_db": info.get("snr_db")},
        "rejected_transactions": {name: sum(f.rejected()[name] for f in fronts) for name in fronts[0].rejected()},
    }
