"""``hbf-edge profile JCEHB_QUANT_DIR --numerical``: the value ranges of the per-slot datapath's
formats, its overflow counters, the hardware's sum rate against the float network's, and the
precision advisor (:func:`hbf_edge.hw.advisor.greedy_bits`), at one or several SNRs.

* **ranges**: per format and SNR, the float values the datapath stores in it, on the profile's
  slots: ``received`` the received pilots ``Y`` (the ADC's input), ``pilot`` the pilot ROM,
  ``coef`` every trained multiplier the datapath holds as a coefficient word (CEDUN's ``T_w``,
  HBDUN's ``B``, ``T_w``, ``T_f``, ``T_lambda mu``, ``T_t``, ``mu``), and the float kernel's
  outputs ``heq`` (``H_hat``), ``precoder`` (``F_BB``) and ``combiner`` (``W_BB``); real and
  imaginary parts each, as the words hold them.  The ``accumulator`` holds every intermediate
  value and is not tapped: its overflows are in the counters.  For each: the largest magnitude
  and the 50 / 99 / 99.9 % percentiles against the format's largest word and LSB, the headroom
  in bits and the share of nonzero values below half an LSB;
* **overflows**: the integer kernel's counters (sites of :data:`COUNTER_SITES`) per SNR and in all;
* **advisor**: from the directory's formats, in the order accumulator, coef, received, pilot,
  heq, precoder, combiner, the fewest integer and then fraction bits that keep the hardware's
  sum rate >= target x the float network's **at every SNR** on the profile's slots; verified on
  fresh slots (seed + 1).  Why every SNR: the ranges move with it (``|Y|`` grows as the noise
  does, ``|W_BB|`` with the SNR), and formats advised at 10 dB kept 26 % of the rate at 20 dB,
  formats advised at 20 dB 90 % at 0 dB (README "JCEHB numerical profile").  The float network
  is the float kernel on the same slots (equal to torch, tested).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families.jcehb.formats import JCEHB_FORMATS, JcehbFormats
from hbf_edge.hw.advisor import advisor_lines, greedy_bits
from hbf_edge.hw.spec import FixedPointFormat

__all__ = ["numerical_profile", "format_numerical", "RANGE_FORMATS", "ADVISOR_ORDER"]

RANGE_FORMATS = ("received", "pilot", "coef", "heq", "precoder", "combiner")
ADVISOR_ORDER = ("accumulator", "coef", "received", "pilot", "heq", "precoder", "combiner")


def _parts(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return np.abs(np.concatenate([x.real.ravel(), x.imag.ravel()]) if np.iscomplexobj(x) else x.ravel())


def _coefficients(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The float values :func:`kernels.jcehb.hardware.pack_hw` rounds to ``coef`` words."""
    hbs = arrays["hbs"]
    return np.concatenate([_parts(v) for v in (arrays["ce"][12], arrays["ce"][13], arrays["hb"][0], arrays["hb"][1],
                                                arrays["hbw"][0], arrays["hbw"][1], arrays["hbf"][0], arrays["hbf"][1],
                                                hbs[0] * hbs[4], hbs[2], hbs[4])])


def _stats(values: np.ndarray, fmt: FixedPointFormat) -> dict[str, Any]:
    lsb = 2.0 ** -fmt.frac_bits
    largest = (2 ** (fmt.word_bits - 1) - 1) * lsb
    top = float(values.max()) if values.size else 0.0
    nonzero = values[values > 0]
    return {"format": fmt.to_dict(), "max": top, "p50": float(np.percentile(values, 50)),
            "p99": float(np.percentile(values, 99)), "p99.9": float(np.percentile(values, 99.9)),
            "largest": largest, "lsb": lsb, "headroom_bits": float(np.log2(largest / top)) if top > 0 else None,
            "below_half_lsb": float(np.mean(nonzero < lsb / 2)) if nonzero.size else 0.0}


class _Slots:
    """One slot per channel ``H`` at one SNR through the quantized model ``hw``'s beams: the
    float kernel's design and rate, and the rate of the integer datapath of any packing."""

    def __init__(self, hw: Any, H: np.ndarray, snr_db: float, noise_seed: int) -> None:
        from hbf_edge.families.jcehb.config import pilot_noise_seeded
        from hbf_edge.families.jcehb.system import noise_power
        from hbf_edge.kernels.jcehb.stage import KERNELS

        model = hw.model
        Nt, N, Nr, R, K, S = model.sizes
        self.beams = {"F_rf": model.F_rf, "W_rf": model.W_rf}
        self.H, self.nu = H, noise_power(snr_db)
        self.noise = pilot_noise_seeded(H.shape[0], K, Nr, model.n_pilots, noise_seed)
        self.Y = KERNELS.observe(model, H, snr_db, noise_seed)
        self.design = KERNELS.forward(model, H, snr_db, noise_seed)
        self.float_rate = self._rate(self.design)

    def _rate(self, design: dict[str, np.ndarray]) -> float:
        from hbf_edge.families.jcehb.system import design_sum_rate

        return float(np.mean(design_sum_rate(self.H, {**design, **self.beams}, self.nu)))

    def hardware(self, hw: Any) -> tuple[float, dict[str, int]]:
        """The mean sum rate and the overflow counters of the integer datapath packed as ``hw``."""
        from hbf_edge.kernels.jcehb.hardware import jcehb_forward_hw

        res = jcehb_forward_hw(hw, self.H, self.noise, self.nu)
        return self._rate(res.values()), res.counters


def _formats_of(base: JcehbFormats, bits: dict[str, tuple[int, int]]) -> JcehbFormats:
    out = {}
    for name in JCEHB_FORMATS:
        f = getattr(base, name)
        w, fr = bits.get(name, (f.word_bits, f.frac_bits))
        out[name] = FixedPointFormat(w, fr, f.rounding, f.saturate)
    return JcehbFormats(**out)


def _snr_key(snr_db: float) -> str:
    return f"{snr_db:g} dB"


def numerical_profile(model_dir: Path, config: Any, core: Any, count: int, snrs: list[float], seed: int,
                      target: float | None, say: Callable[[str], None] = lambda s: None
                      ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The profile of the module docstring for the directory ``model_dir`` of ``config``, and the
    magnitudes behind it, every SNR pooled (for the plot)."""
    from hbf_edge.families.jcehb.config import DEFAULT_NOISE_SEED
    from hbf_edge.kernels.jcehb.hardware import load_jcehb_hw, pack_hw

    if config.quantization is None:
        raise ConfigError(f"{model_dir} is a float model: the numerical profile compares the integer datapath's "
                          "formats with its values (hbf-edge quantize MODEL first)")
    hw = load_jcehb_hw(model_dir)
    formats = hw.formats

    def slots_of(s: int) -> dict[str, _Slots]:  # every SNR on the same channels and pilot noise draw
        H = core.draw_channels(config, count, s)
        return {_snr_key(snr): _Slots(hw, H, snr, DEFAULT_NOISE_SEED + s) for snr in snrs}

    slots = slots_of(seed)
    a = hw.model.arrays
    per_snr = {k: {"received": _parts(v.Y), "pilot": _parts(a["xr"] + 1j * a["xi"]), "coef": _coefficients(a),
                   "heq": _parts(v.design["H_hat"]), "precoder": _parts(v.design["F_bb"]),
                   "combiner": _parts(v.design["W_bb"])} for k, v in slots.items()}
    hardware = {k: v.hardware(hw) for k, v in slots.items()}
    total = {site: sum(c[site] for _, c in hardware.values()) for site in next(iter(hardware.values()))[1]}
    result: dict[str, Any] = {
        "n_channels": count, "snr_db": list(snrs), "seed": seed,
        "sites": {name: {k: _stats(per_snr[k][name], getattr(formats, name)) for k in slots} for name in RANGE_FORMATS},
        "overflows": {"total": total, "per_snr": {k: c for k, (_, c) in hardware.items()}},
        "saturating_sites": [k for k, v in total.items() if v],
        "sum_rate": {k: {"float": slots[k].float_rate, "hardware": r} for k, (r, _) in hardware.items()},
        "retention": min(r / slots[k].float_rate for k, (r, _) in hardware.items())}
    if target:
        def retention(bits: dict[str, tuple[int, int]], among: dict[str, _Slots] = slots) -> float | None:
            try:
                packed = pack_hw(hw.model, _formats_of(formats, bits), hw.phase_bits)  # once for every SNR
            except ConfigError:  # formats the datapath refuses (fraction bits above the accumulator's, ...)
                return None
            return min(v.hardware(packed)[0] / v.float_rate for v in among.values())

        start = {n: (getattr(formats, n).word_bits, getattr(formats, n).frac_bits) for n in ADVISOR_ORDER}
        found = greedy_bits(start, ADVISOR_ORDER, retention, target, say)
        advised = _formats_of(formats, found["bits"])
        verified = retention(found["bits"], slots_of(seed + 1))
        result["advisor"] = {
            "target": target, "order": list(ADVISOR_ORDER), "steps": found["steps"],
            "evaluations": found["evaluations"], "formats": advised.to_dict(),
            "retention": {"model": found["base"], "advised": found["kept"], "advised_fresh_channels": verified},
            "fresh_seed": seed + 1, "meets_target_on_fresh_channels": bool(verified >= target),
            "total_word_bits": {"model": sum(getattr(formats, n).word_bits for n in JCEHB_FORMATS),
                                "advised": sum(getattr(advised, n).word_bits for n in JCEHB_FORMATS)}}
    pooled = {name: np.concatenate([per_snr[k][name] for k in slots]) for name in RANGE_FORMATS}
    return result, pooled


def format_numerical(result: dict[str, Any]) -> str:
    """The range table (the SNR with the least headroom per format), the counters, the sum rates
    and the advisor's outcome, as text."""
    lines = [f"{'format':<10} {'word.frac':>9} {'max |v|':>10} {'p99.9':>10} {'largest':>10} {'headroom':>9} "
             f"{'< LSB/2':>8} {'at':>7}"]
    for name, stages in result["sites"].items():
        at, s = min(stages.items(), key=lambda kv: kv[1]["headroom_bits"] if kv[1]["headroom_bits"] is not None
                    else 99)
        f = s["format"]
        head = "-" if s["headroom_bits"] is None else f"{s['headroom_bits']:+.1f} b"
        lines.append(f"{name:<10} {f['word_bits']:>5}.{f['frac_bits']:<3} {s['max']:>10.4g} {s['p99.9']:>10.4g} "
                     f"{s['largest']:>10.4g} {head:>9} {s['below_half_lsb']:>8.2%} {at:>7}")
    sat = result["saturating_sites"]
    over = result["overflows"]["total"]
    lines.append("overflow sites (accumulator included): " + (", ".join(f"{s} ({over[s]})" for s in sat)
                                                               if sat else "none"))
    lines.append(f"sum rate, hardware / float network on {result['n_channels']} slots: " + ", ".join(
        f"{k} {r['hardware']:.4f} / {r['float']:.4f}" for k, r in result["sum_rate"].items())
        + f" (retention {result['retention']:.4f} at the worst)")
    if "advisor" in result:
        lines += advisor_lines(result["advisor"])
    return "\n".join(lines)
