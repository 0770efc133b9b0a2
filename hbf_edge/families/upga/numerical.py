"""``hbf-edge profile --numerical QUANT_MODEL_DIR``: the numerical range profile of a quantized
UPGA model and the precision advisor.

* **Ranges**: the float network in the hardware's units (:func:`kernels.upga.taps.tap_forward`)
  gives every datapath site's values per stage (init, each layer, the output stage); each
  site's magnitudes (maximum, percentiles) are set against the format the kernel stores it in:
  the largest word, the LSB, the headroom in bits, the share of nonzero values that round to
  zero.  hls4ml's ``profiling.numerical`` does the same for a network's activations.
* **Overflows**: the hardware kernel run stage by stage on the same channels
  (:mod:`kernels.upga._batch`), so its overflow counters are per site *and* stage.
* **Float vs fixed**: the sum rate after each stage, float network against hardware kernel.
* **Advisor**: per format, greedily, the fewest integer bits and then the fewest fraction bits
  whose hardware design keeps ``retention >= target`` (hardware sum rate over the float
  network's) on the profile's channels; then verified on fresh channels of another seed.  The
  suggestion is written as a precision file (``quantize --precision``, ``sweep``).
  Chosen (the issue leaves the search open): one word length per format -- the granularity the
  datapath has (the precoder may change per layer, the advisor keeps one for all) -- in the
  order accumulator, gradient, step, precoder, channel, lut; a greedy pass, not an exhaustive
  search, so the result is a sufficient format set, not the global minimum.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.hw.advisor import advisor_lines, greedy_bits
from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.hw.spec import FORMATS, FixedPointFormat
from hbf_edge.profiling import hardware_layers

__all__ = ["numerical_profile", "advise", "format_numerical"]

ADVISOR_ORDER = ("accumulator", "gradient", "step", "precoder", "channel", "lut")
_PCTS = (50.0, 99.0, 99.9)
_SAMPLE = 4000  # magnitudes kept per site for the plot


def _stats(values: np.ndarray, fmt: FixedPointFormat) -> dict[str, Any]:
    mag = np.abs(values[np.isfinite(values)])
    nz = mag[mag > 0]
    top = float(mag.max(initial=0.0))
    lsb = 2.0 ** -fmt.frac_bits
    largest = fmt.max_int * lsb
    return {"n": int(mag.size), "max": top,
            **{f"p{p:g}": float(np.percentile(mag, p)) if mag.size else 0.0 for p in _PCTS},
            "format": fmt.to_dict(), "largest": largest, "lsb": lsb,
            "headroom_bits": round(math.log2(largest / top), 2) if top > 0 else None,
            "below_half_lsb": round(float(np.mean(nz < lsb / 2)), 4) if nz.size else 0.0}


class _Taps:
    """Collects the tap forward's values: statistics per (site, stage), a seeded sample per site."""

    def __init__(self, formats: Callable[[str, str], FixedPointFormat], seed: int) -> None:
        self.formats = formats
        self.by_stage: dict[str, dict[str, list[np.ndarray]]] = {}
        self.rng = np.random.default_rng(seed)

    def __call__(self, stage: str, site: str, values: np.ndarray) -> None:
        self.by_stage.setdefault(stage, {}).setdefault(site, []).append(np.asarray(values, np.float64))

    def table(self) -> tuple[dict[str, dict[str, Any]], dict[str, np.ndarray]]:
        out: dict[str, dict[str, Any]] = {}
        sample: dict[str, list[np.ndarray]] = {}
        for stage, sites in self.by_stage.items():
            for site, parts in sites.items():
                v = np.concatenate(parts)
                out.setdefault(site, {})[stage] = _stats(v, self.formats(site, stage))
                k = min(_SAMPLE, v.size)
                sample.setdefault(site, []).append(self.rng.choice(np.abs(v), size=k, replace=False))
        return out, {s: np.concatenate(p) for s, p in sample.items()}


def _hardware_by_stage(config: Any, arrays: dict[str, np.ndarray], H: np.ndarray, p_t: np.ndarray,
                       noise: np.ndarray) -> tuple[dict[str, dict[str, int]], list[np.ndarray]]:
    """Overflow counts per stage and site, and the sum rate after each stage (normalised units)."""
    from hbf_edge.families.upga.config import COUNTER_SITES
    from hbf_edge.kernels.upga.hardware import model_search, prepare_hw_inputs, run_search, run_stages
    from hbf_edge.kernels.upga.taps import sum_rate_normalised

    specs = hardware_layers(config)
    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise, arrays["mu"],
                          arrays["lam"], specs[0], specs, xi=config.output_xi)
    B, N, K = H.shape
    M = config.spec.n_rf
    codes = np.zeros((B, N, M), np.int64)
    w_r, w_i = np.zeros((B, M, K), np.int64), np.zeros((B, M, K), np.int64)
    sites = COUNTER_SITES[1:]
    n_in = int(x.input_overflows.sum())
    counts: dict[str, dict[str, int]] = {"input": {"input": n_in} if n_in else {}}
    noise_n = noise * N / p_t
    rates = []

    def record(stage: str, cnt: np.ndarray, spec: Any) -> None:
        counts[stage] = {s: int(c) for s, c in zip(sites, cnt.sum(axis=0)) if c}
        F = np.exp(2j * np.pi * codes / spec.n_codes)
        W = spec.precoder.to_float(w_r) + 1j * spec.precoder.to_float(w_i)
        rates.append(sum_rate_normalised(H, F, W, noise_n))

    cnt = np.zeros((B, len(sites)), np.int64)
    run_stages(x, codes, w_r, w_i, cnt, True, 0, 0, False)
    record("init", cnt, specs[0])
    for i in range(config.n_layers):
        cnt = np.zeros_like(cnt)
        run_stages(x, codes, w_r, w_i, cnt, False, i, i + 1, False)
        record(f"layer {i}", cnt, specs[i])
    if config.output_xi is not None:
        cnt = np.zeros_like(cnt)
        search = model_search(config)
        if search is not None:
            run_search(x, search, codes, w_r, w_i, cnt)
        else:
            run_stages(x, codes, w_r, w_i, cnt, False, config.n_layers, config.n_layers, True)
        record("output", cnt, specs[-1])
    return counts, rates


def _channels(config: Any, core: Any, count: int, seed: int, snr_db: float) -> tuple[np.ndarray, ...]:
    from hbf_edge.units import snr_db_to_power

    H = core.draw_channels(config, count, seed)
    return H, np.full(count, float(snr_db_to_power(snr_db, 1.0))), np.ones(count)


def numerical_profile(model_dir: Path, core: Any, count: int = 500, snr_db: float = 10.0, seed: int = 0,
                      target: float | None = 0.99, say: Callable[[str], None] = lambda s: None
                      ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The range profile of a quantized UPGA model (module docstring) and, with ``target``, the
    advisor's formats; and a sample of each site's magnitudes (for the plot).  ``core``: the
    family's core stage (it draws the channels)."""
    from hbf_edge.kernels.upga.taps import SITE_FORMATS, tap_forward
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    if config.precision is None:
        raise ConfigError(f"{model_dir} is a float model: the numerical profile needs a quantized one "
                          "(`hbf-edge quantize`)")
    specs = hardware_layers(config)
    H, p_t, noise = _channels(config, core, count, seed, snr_db)

    def fmt(site: str, stage: str) -> FixedPointFormat:
        spec = specs[int(stage.split()[1])] if stage.startswith("layer") else specs[-1 if stage == "output" else 0]
        return getattr(spec, SITE_FORMATS[site])

    say(f"hbf-edge: profile --numerical: float taps and the hardware kernel per stage on {count} channels ...")
    taps = _Taps(fmt, seed)
    float_rates, _, _ = tap_forward(H, p_t, noise, arrays["mu"], arrays["lam"], config.spec.n_rf, taps,
                                    xi=config.output_xi)
    sites, sample = taps.table()
    counts, hw_rates = _hardware_by_stage(config, arrays, H, p_t, noise)
    stages = list(counts)[1:]
    overflows: dict[str, int] = {}
    for stage_counts in counts.values():
        for site, c in stage_counts.items():
            overflows[site] = overflows.get(site, 0) + c
    result = {
        "model_dir": str(model_dir), "n_channels": count, "snr_db": snr_db, "seed": seed,
        "sites": sites, "overflows": {"total": overflows, "by_stage": counts},
        "saturating_sites": sorted(s for s, c in overflows.items() if c),
        "sum_rate": {"stages": stages, "float": [float(r.mean()) for r in float_rates],
                     "hardware": [float(r.mean()) for r in hw_rates]},
        "total_word_bits": total_bits(specs[-1]),
    }
    result["retention"] = result["sum_rate"]["hardware"][-1] / result["sum_rate"]["float"][config.n_layers]
    if target is not None:
        result["advisor"] = advise(config, arrays, core, target, count, snr_db, seed, say)
    return result, sample


def total_bits(spec: Any) -> int:
    """Word bits of one word of every format (the advisor's cost)."""
    return sum(getattr(spec, f).word_bits for f in FORMATS)


def _retention(config: Any, arrays: dict[str, np.ndarray], H: np.ndarray, p_t: np.ndarray, noise: np.ndarray,
               float_rate: float) -> float:
    from hbf_edge.baselines import sum_rate_np
    from hbf_edge.kernels.upga.stage import hardware_design

    res = hardware_design((config, arrays), H, p_t, noise)
    return float(sum_rate_np(H, res.analog() @ res.digital(), noise).mean()) / float_rate


def _float_rate(config: Any, arrays: dict[str, np.ndarray], H: np.ndarray, p_t: np.ndarray,
                noise: np.ndarray) -> float:
    from hbf_edge.baselines import sum_rate_np
    from hbf_edge.kernels.upga.forward import upga_forward

    f_r, f_i, w_r, w_i = upga_forward(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, noise,
                                      arrays["mu"], arrays["lam"], config.spec.n_rf)
    return float(sum_rate_np(H, (f_r + 1j * f_i) @ (w_r + 1j * w_i), noise).mean())


def _with(precision: dict[str, Any], name: str, word: int, frac: int) -> dict[str, Any]:
    """``precision`` with format ``name`` set to (word, frac) in [default] and in every layer."""
    p = {"default": dict(precision["default"]), "layers": {k: dict(v) for k, v in precision.get("layers", {}).items()}}
    p["default"][name] = {**p["default"][name], "word_bits": word, "frac_bits": frac}
    for layer in p["layers"].values():
        if name in layer:
            layer[name] = {**layer[name], "word_bits": word, "frac_bits": frac}
    return p


def advise(config: Any, arrays: dict[str, np.ndarray], core: Any, target: float, count: int, snr_db: float,
           seed: int, say: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The greedy search of the module docstring; verified on ``count`` fresh channels (seed + 1)."""
    H, p_t, noise = _channels(config, core, count, seed, snr_db)
    ref = _float_rate(config, arrays, H, p_t, noise)

    def ret(precision: dict[str, Any]) -> float | None:
        try:
            cfg = dataclasses.replace(config, precision=PrecisionConfig.from_dict(
                precision, config.spec, config.n_layers).to_dict())
            return _retention(cfg, arrays, H, p_t, noise, ref)
        except ConfigError:  # a format the datapath cannot run (int64 bounds, lut must hold +-1)
            return None

    start = config.precision
    names = tuple(ADVISOR_ORDER)

    def precision_of(bits: dict[str, tuple[int, int]]) -> dict[str, Any]:
        p = start
        for name, (word, frac) in bits.items():
            p = _with(p, name, word, frac)
        return p

    found = greedy_bits({n: (start["default"][n]["word_bits"], start["default"][n]["frac_bits"]) for n in names},
                        names, lambda bits: ret(precision_of(bits)), target, say)
    best, base, kept, steps, evaluations = (precision_of(found["bits"]), found["base"], found["kept"], found["steps"],
                                            found["evaluations"])
    fresh = _channels(config, core, count, seed + 1, snr_db)
    verified = _retention(dataclasses.replace(config, precision=PrecisionConfig.from_dict(
        best, config.spec, config.n_layers).to_dict()), arrays, *fresh, _float_rate(config, arrays, *fresh))
    specs_before = hardware_layers(config)
    specs_after = PrecisionConfig.from_dict(best, config.spec, config.n_layers).layer_specs()
    return {"target": target, "order": list(ADVISOR_ORDER), "steps": steps, "evaluations": evaluations,
            "precision": best, "retention": {"model": base, "advised": kept, "advised_fresh_channels": verified},
            "fresh_seed": seed + 1, "meets_target_on_fresh_channels": bool(verified >= target),
            "total_word_bits": {"model": total_bits(specs_before[-1]), "advised": total_bits(specs_after[-1])}}


def format_numerical(result: dict[str, Any]) -> str:
    """The profile's site table (worst stage per site) and the advisor's outcome, as text."""
    lines = [f"{'site':<11} {'format':>8} {'max |v|':>10} {'p99.9':>10} {'largest':>10} {'headroom':>9} "
             f"{'< LSB/2':>8} {'overflows':>10}"]
    for site, stages in result["sites"].items():
        worst = min(stages.values(), key=lambda s: s["headroom_bits"] if s["headroom_bits"] is not None else 99)
        f = worst["format"]
        head = "-" if worst["headroom_bits"] is None else f"{worst['headroom_bits']:+.1f} b"
        lines.append(f"{site:<11} {f['word_bits']:>4}.{f['frac_bits']:<3} {worst['max']:>10.4g} "
                     f"{worst['p99.9']:>10.4g} "
                     f"{worst['largest']:>10.4g} {head:>9} {max(s['below_half_lsb'] for s in stages.values()):>8.2%} "
                     f"{result['overflows']['total'].get(site, 0):>10}")
    sat = result["saturating_sites"]
    lines.append("saturating sites: " + (", ".join(f"{s} ({result['overflows']['total'][s]})" for s in sat)
                                         if sat else "none"))
    lines.append(f"retention (hardware / float network): {result['retention']:.4f}")
    if "advisor" in result:
        lines += advisor_lines(result["advisor"])
    return "\n".join(lines)
