"""Replay a bundle's beams through the controller model and report what the array radiates."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._bundle import SimulatorError, check_distinct_pairs, load_bundle, load_calibration
from .array import FrontEnd
from .physics import beampattern, digital_precoder, element_weights, sensing_mse, sum_rate

__all__ = ["simulate"]


def simulate(
    bundle: str | os.PathLike,
    calibration: str | os.PathLike | None = None,
    channels: np.ndarray | None = None,
    channels_per_chip: int = 4,
    chips_per_bus: int = 4,
    n_states: int = 121,
    spi_hz: float = 25e6,
    pattern_channel: int = 0,
    key: bytes | None = None,
    trace: list | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Program every beam of ``beams.npz`` both ways (direct register writes; beam RAM preload
    plus recall), read back the applied registers, and evaluate the radiated beams.

    Parameters
    ----------
    calibration : path, optional
        JSON with per-code ``phase_error_deg`` (and ``gain_error_db``); default ideal.
    channels : ndarray [B, N, K], optional
        Channels to rate the applied beams on (default: the bundle's own).
    key : bytes, optional
        The 32-byte key the bundle was signed with (``firmware_sim.read_key``): a bundle
        without a matching ``manifest_hmac`` is refused.  Without it, only the hashes
        (accidental damage) are checked.
    trace : list, optional
        Receives every SPI transaction of the replay (:class:`~firmware_sim.array.FrontEnd`'s
        ``trace``): the direct programming of every beam, then the beam-RAM preloads and recalls.

    Returns
    -------
    report : dict
        Code mismatches per mode, sum rates (applied vs the model's own), beam-switch latency
        per mode, rejected-transaction counts, the configuration; for a JCAS bundle (beams with
        ``sensing_benchmark``) also ``sensing``: the beampattern MSE of the intended and the
        applied beams against the benchmark (dB of the mean over beams) and their difference.
    patterns : dict
        ``angles_deg``, ``intended`` and ``applied`` beampatterns ``[K, A]`` of one channel.
    """
    data = load_bundle(bundle, key)
    beams = data.beams
    codes = beams["codes"].astype(np.int64)
    B, N, M = codes.shape
    vm = data.lut["output"]["vector_modulator"]
    vm_i, vm_q = np.asarray(vm["i"], np.int64), np.asarray(vm["q"], np.int64)
    Q = data.phase_bits
    check_distinct_pairs(vm_i, vm_q, f"the {Q}-bit vector-modulator table")
    phase_err, gain_err = (None, None) if calibration is None else load_calibration(calibration, 1 << Q)
    H = beams["H"] if channels is None else np.asarray(channels)
    if H.shape != (B, N, data.n_users):
        raise SimulatorError(f"channels must be [{B}, {N}, {data.n_users}] like the beams, got {list(H.shape)}")
    if H.dtype.kind not in "fc" or not np.all(np.isfinite(H)):
        raise SimulatorError("the channels must be finite numbers")
    if not 0 <= pattern_channel < B:
        raise SimulatorError(f"pattern_channel must be in 0..{B - 1}")

    front = FrontEnd(N, M, channels_per_chip, chips_per_bus, n_states, spi_hz, trace=trace)
    applied = {"direct": np.empty((B, N, M), np.int64), "ram": np.empty((B, N, M), np.int64)}
    gains = np.empty((B, N, M))
    direct_latency = 0.0
    for b in range(B):
        seq = front.direct_sequence(codes[b], vm_i, vm_q)
        front.run(seq)
        direct_latency = max(direct_latency, front.latency_s(seq))
        applied["direct"][b] = front.applied_codes(vm_i, vm_q)
        gains[b] = front.applied_registers()[1]
    preload_latency, recall_latency = 0.0, 0.0
    S = front.n_states
    for start in range(0, B, S):
        chunk = [codes[b] for b in range(start, min(B, start + S))]
        seq = front.preload_sequence(chunk, vm_i, vm_q)
        front.run(seq)
        preload_latency += front.latency_s(seq)
        for s in range(len(chunk)):
            seq = front.recall_sequence(s)
            front.run(seq)
            recall_latency = max(recall_latency, front.latency_s(seq))
            applied["ram"][start + s] = front.applied_codes(vm_i, vm_q)

    W = digital_precoder(beams)
    noise = beams["noise"]
    F_model = element_weights(codes, np.full(codes.shape, 127.0), Q)
    F_applied = element_weights(applied["direct"], gains, Q, phase_err, gain_err)
    r_model = sum_rate(H, F_model, W, noise)
    r_applied = sum_rate(H, F_applied, W, noise)
    angles = np.linspace(-90.0, 90.0, 721)
    patterns = {
        "angles_deg": angles,
        "intended": beampattern(F_model[pattern_channel], W[pattern_channel], angles),
        "applied": beampattern(F_applied[pattern_channel], W[pattern_channel], angles),
    }
    report = {
        "bundle": str(bundle),
        "n_beams": B,
        "array": {"N": N, "M": M, "phase_bits": Q, "channels_per_chip": channels_per_chip,
                  "chips": len(front.chips), "chips_per_bus": chips_per_bus, "buses": front.n_buses,
                  "beam_states": S, "spi_hz": spi_hz},
        "calibration": "ideal" if calibration is None else str(calibration),
        "authenticity": "HMAC checked with the given key" if key is not None else "not checked (no key)",
        "code_mismatches": {mode: int(np.count_nonzero(a != codes)) for mode, a in applied.items()},
        "sum_rate": {
            "model_mean": float(r_model.mean()),
            "applied_mean": float(r_applied.mean()),
            "relative_difference": float(abs(r_applied.mean() - r_model.mean()) / r_model.mean()),
            "loss_percent": float(100.0 * (1.0 - r_applied.mean() / r_model.mean())),
            "snr_db_of_beams": float(10 * np.log10(beams["p_t"][0] / noise[0])),
        },
        "latency_us": {
            "direct_switch": direct_latency * 1e6,
            "ram_recall_switch": recall_latency * 1e6,
            "ram_preload_total": preload_latency * 1e6,
            "frames_per_bus_direct": int(round(direct_latency * spi_hz / 24)),
        },
        "rejected_transactions": front.rejected(),
        "pattern_channel": pattern_channel,
    }
    if "sensing_benchmark" in beams:
        grid, bench = beams["sensing_angles_deg"], beams["sensing_benchmark"]
        if grid.ndim != 1 or bench.shape != grid.shape or not np.all(np.isfinite(bench)):
            raise SimulatorError("the bundle's sensing grid and benchmark beampattern must be finite [T] arrays")
        mse = {k: 10.0 * np.log10(sensing_mse(F, W, beams["p_t"], grid, bench).mean())
               for k, F in (("model", F_model), ("applied", F_applied))}
        report["sensing"] = {"mse_db_model": float(mse["model"]), "mse_db_applied": float(mse["applied"]),
                             "mse_change_db": float(mse["applied"] - mse["model"]), "grid_points": int(grid.size)}
    return report, patterns
