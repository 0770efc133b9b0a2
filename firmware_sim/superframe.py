"""Replay a JCEHB superframe bundle: the analog networks programmed once, digital words per slot.

The mixed-timescale design (spec 6.1): the BS's and every user's phase codes are written once
for the superframe (one direct-write sequence per front end); per slot only baseband words
change (``F_BB`` at the BS, ``W_BB`` at each user), streamed over a digital link.  The replay
counts the SPI transactions the front ends see between slots (the design says none), reads the
applied codes back, and scores the sum rate of the applied beams with its own physics, for
comparison with the toolkit's score of the same words.  Numpy only; the bundle is parsed and
verified here, as for the other bundles.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._bundle import SCHEMA_VERSION, check_distinct_pairs, int_array, load_calibration, read_members, word_format
from ._verify import SimulatorError, read_json
from .array import FrontEnd
from .physics import element_weights

__all__ = ["replay_superframe", "is_superframe_bundle"]


def is_superframe_bundle(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a superframe bundle (its manifest's ``scoring``)."""
    mpath = Path(path) / "manifest.json"
    if not mpath.is_file():
        return False
    manifest = read_json(mpath, "bundle manifest")
    return isinstance(manifest, dict) and manifest.get("scoring") == "superframe"


def _load(path: Path, key: bytes | None) -> tuple[dict, dict]:
    manifest, info, beams = read_members(path, "superframe.json", key)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise SimulatorError(f"a superframe bundle has schema {SCHEMA_VERSION}, not {manifest.get('schema_version')!r}")
    return info, beams


def replay_superframe(bundle: str | os.PathLike, key: bytes | None = None, channels_per_chip: int = 4,
                      chips_per_bus: int = 4, spi_hz: float = 25e6, link_bps: float = 1e9,
                      calibration: str | os.PathLike | None = None) -> dict[str, Any]:
    """Program the superframe's codes once, stream every slot's words, score the applied beams.

    Parameters
    ----------
    calibration : path, optional
        Per-code phase and gain errors of the front ends (as for the beam replay): the applied
        beams carry them.  The bundle's own record of what its slots' pilots went through
        (``superframe.json`` ``calibration``) is reported beside it: when the two are the same
        table, the words were designed on the channels the front ends have.
    link_bps : float
        Rate of the digital link that carries a slot's baseband words (default 1 Gbit/s): the
        per-slot time budget is the words' bits over it.

    Returns
    -------
    report : dict
        ``n_beams`` (slots), ``code_mismatches`` per front end, ``analog_writes`` (programming the superframe, and
        between slots), ``latency_us`` (the one-off analog programming per front end, the
        per-slot word transfer), ``digital_per_slot`` (words and bits), ``sum_rate`` (applied against the bundle's kernel score).
    """
    path = Path(bundle)
    if not (path / "manifest.json").is_file():
        raise SimulatorError(f"{path} has no manifest.json: not a bundle")
    if not (math.isfinite(link_bps) and link_bps > 0):
        raise SimulatorError(f"the link rate must be finite and > 0, got {link_bps!r}")
    info, beams = _load(path, key)
    try:
        z = info["sizes"]
        Nt, N, Nr, R, K, S = (int(z[k]) for k in ("n_tx", "n_rf_tx", "n_rx", "n_rf_rx", "n_users", "n_streams"))
        Q = int(info["phase_bits"])
        nu = float(info["noise_power"])
        vm_i = np.asarray(info["vector_modulator"]["i"], np.int64)
        vm_q = np.asarray(info["vector_modulator"]["q"], np.int64)
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulatorError(f"superframe.json is incomplete: {exc!r}") from exc
    if not (1 <= Q <= 16 and vm_i.shape == vm_q.shape == (1 << Q,) and math.isfinite(nu) and nu > 0):
        raise SimulatorError("superframe.json: phase bits, vector-modulator table or noise power out of range")
    check_distinct_pairs(vm_i, vm_q, f"the {Q}-bit vector-modulator table")
    H = beams.get("H")
    if H is None or H.dtype.kind != "c" or H.ndim != 4 or H.shape[1:] != (K, Nr, Nt) or not np.all(np.isfinite(H)):
        raise SimulatorError(f"beams.npz: H must be finite complex [B, {K}, {Nr}, {Nt}]")
    B = H.shape[0]
    codes_bs = int_array(beams, "codes_bs", (Nt, N), 0, (1 << Q) - 1)
    codes_ue = int_array(beams, "codes_ue", (K, Nr, R), 0, (1 << Q) - 1)
    (fb_bits, fb_frac) = word_format(info, "precoder", "superframe.json")
    (wb_bits, wb_frac) = word_format(info, "combiner", "superframe.json")
    F_w = int_array(beams, "F_bb", (B, N, K * S, 2), -(1 << (fb_bits - 1)), (1 << (fb_bits - 1)) - 1)
    W_w = int_array(beams, "W_bb", (B, K, R, S, 2), -(1 << (wb_bits - 1)), (1 << (wb_bits - 1)) - 1)
    kernel_rate = beams.get("kernel_sum_rate")
    if kernel_rate is None or kernel_rate.shape != (B,) or not np.all(np.isfinite(kernel_rate)):
        raise SimulatorError(f"beams.npz: kernel_sum_rate must be finite [{B}]")

    # the superframe: every front end programmed once, its applied codes read back
    trace: list = []
    fronts = [FrontEnd(Nt, N, channels_per_chip, chips_per_bus, 1, spi_hz, trace=trace)]
    fronts += [FrontEnd(Nr, R, channels_per_chip, chips_per_bus, 1, spi_hz, trace=trace) for _ in range(K)]
    wanted = [codes_bs] + [codes_ue[k] for k in range(K)]
    latency, applied, gains = [], [], []
    for front, codes in zip(fronts, wanted):
        seq = front.direct_sequence(codes, vm_i, vm_q)
        front.run(seq)
        latency.append(front.latency_s(seq))
        applied.append(front.applied_codes(vm_i, vm_q))
        gains.append(front.applied_registers()[1])
    programmed = len(trace)
    designed = info.get("calibration", "ideal")  # bundles before the option: ideal
    if designed != "ideal" and not (isinstance(designed, dict) and isinstance(designed.get("file"), str)
                                    and isinstance(designed.get("sha256"), str)):
        raise SimulatorError("superframe.json: calibration must be \"ideal\" or {file, sha256}")
    # per slot: baseband words only; the front ends are not addressed
    errors = (None, None) if calibration is None else load_calibration(calibration, 1 << Q)
    F_rf = element_weights(applied[0], gains[0], Q, *errors) / math.sqrt(Nt)
    W_rf = np.stack([element_weights(applied[1 + k], gains[1 + k], Q, *errors) for k in range(K)]) / math.sqrt(Nr)
    F_bb = (F_w[..., 0] + 1j * F_w[..., 1]) * 2.0 ** -fb_frac
    W_bb = (W_w[..., 0] + 1j * W_w[..., 1]) * 2.0 ** -wb_frac
    rate = _sum_rate(H, F_rf, W_rf, F_bb, W_bb, nu, S)
    words_per_slot = 2 * (N * K * S + K * R * S)
    bits_per_slot = 2 * (N * K * S * fb_bits + K * R * S * wb_bits)
    return {
        "bundle": str(bundle), "n_beams": B, "kind": "superframe",  # one design (F_BB and W_BB words) per slot
        "array": {"N_t": Nt, "N_t_rf": N, "N_r": Nr, "N_r_rf": R, "users": K, "streams": S, "phase_bits": Q,
                  "channels_per_chip": channels_per_chip, "chips_per_bus": chips_per_bus, "spi_hz": spi_hz,
                  "link_bps": link_bps},
        "authenticity": "HMAC checked with the given key" if key is not None else "not checked (no key)",
        "calibration": "ideal" if calibration is None else str(calibration),
        "slots_designed_through": designed,
        "designed_through_this_calibration": designed == "ideal" if calibration is None else (
            isinstance(designed, dict) and designed["sha256"] == _sha256(calibration)),
        "code_mismatches": {"bs": int(np.count_nonzero(applied[0] != codes_bs)),
                            **{f"user{k}": int(np.count_nonzero(applied[1 + k] != codes_ue[k])) for k in range(K)}},
        "analog_writes": {"superframe": programmed, "between_slots": len(trace) - programmed},
        "latency_us": {"analog_programming_bs": latency[0] * 1e6,
                       "analog_programming_users_max": max(latency[1:]) * 1e6,
                       "digital_transfer_per_slot": bits_per_slot / link_bps * 1e6},
        "digital_per_slot": {"words": words_per_slot, "bits": bits_per_slot},
        "sum_rate": {"applied_mean": float(rate.mean()), "kernel_mean": float(kernel_rate.mean()),
                     "largest_difference": float(np.abs(rate - kernel_rate).max())},
        "rejected_transactions": {name: sum(f.rejected()[name] for f in fronts) for name in fronts[0].rejected()},
    }


def _sha256(path: str | os.PathLike) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _sum_rate(H: np.ndarray, F_rf: np.ndarray, W_rf: np.ndarray, F_bb: np.ndarray, W_bb: np.ndarray, nu: float,
              S: int) -> np.ndarray:
    """Sum over users and streams of ``log2(1 + SINR)``, ``SINR = |w^H W_RF^H H F_RF f_own|^2 /
    (interference + nu ||W_RF w||^2)``; a stream whose combiner is zero gets 0."""
    B, K = H.shape[:2]
    out = np.zeros(B)
    for k in range(K):
        comb = W_rf[k] @ W_bb[:, k]  # [B, N_r, S] the user's combiners at its antennas
        G = np.einsum("brs,brt,tn,bnc->bsc", comb.conj(), H[:, k], F_rf, F_bb)  # [B, S, K S]
        power = np.abs(G) ** 2
        for s in range(S):
            signal = power[:, s, k * S + s]
            den = power[:, s].sum(axis=1) - signal + nu * np.sum(np.abs(comb[:, :, s]) ** 2, axis=1)
            sinr = np.divide(signal, den, out=np.zeros(B), where=den > 0)
            out += np.log2(1.0 + sinr)
    return out
