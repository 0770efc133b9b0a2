"""The lookup tables of a bundle, built from a quantized model's spec and precision.

Everything comes from :meth:`HardwareSpec.phase_table` and the spec's formats -- the same
functions ``kernels/`` and ``quant/`` use -- so a code or a word means the same thing on the
target as in the toolkit.

Vector-modulator registers (ADAR1000-like): each phase state is set by an I and a Q register
of one byte: bit 5 the polarity (1 = positive), bits 4..0 the magnitude
``round(|cos| * 31)`` resp. ``round(|sin| * 31)``.  The ADAR1000 ships a 128-entry (7-bit)
table; this one is computed for any Q from the ideal I/Q projections of each code's angle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.modelfiles import ModelConfig
from hbf_edge.hw.spec import FORMATS, HardwareSpec, code_to_phase

__all__ = ["VM_MAGNITUDE_BITS", "vector_modulator_table", "build_tables"]

VM_MAGNITUDE_BITS = 5
VM_POLARITY_BIT = 5


def vector_modulator_table(phase_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """I and Q register bytes of every code, [2**Q] uint8 each."""
    angles = code_to_phase(np.arange(1 << phase_bits), phase_bits)
    full = (1 << VM_MAGNITUDE_BITS) - 1

    def reg(v: np.ndarray) -> np.ndarray:
        mag = np.floor(np.abs(v) * full + 0.5).astype(np.int64)
        pol = (v >= -1e-12).astype(np.int64)  # cos(pi/2) = 6e-17: zero counts as positive
        return ((pol << VM_POLARITY_BIT) | mag).astype(np.uint8)

    return reg(np.cos(angles)), reg(np.sin(angles))


def build_tables(config: ModelConfig, layer_specs: list[HardwareSpec], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The content of ``lut.json``: formats, per-layer phase tables, the output phase and
    vector-modulator tables, and the step sizes in the step format.

    Parameters
    ----------
    config : ModelConfig
        A quantized model's config.
    layer_specs : list of HardwareSpec
        Its per-layer specs (``PrecisionConfig.layer_specs()``).
    arrays : dict
        ``mu [I, J]`` and ``lam [I]`` (float).
    """
    if config.precision is None:
        raise ConfigError("lookup tables need a quantized model (run `hbf-edge quantize` first)")
    spec = layer_specs[0]
    layers = []
    for i, ls in enumerate(layer_specs):
        c, s = ls.phase_table()
        layers.append({"layer": i, "phase_bits": ls.phase_bits, "precoder": ls.precoder.to_dict(),
                       "cos": c.tolist(), "sin": s.tolist()})
    out = layer_specs[-1]
    c, s = out.phase_table()
    vm_i, vm_q = vector_modulator_table(out.phase_bits)
    mu_w, mu_over = spec.step.quantize(arrays["mu"])
    lam_w, lam_over = spec.step.quantize(arrays["lam"])
    if mu_over.any() or lam_over.any():
        raise ConfigError(f"step sizes do not fit the step format {spec.step}")
    return {
        "sizes": {"N": spec.n_antennas, "M": spec.n_rf, "K": spec.n_users, "I": config.n_layers, "J": config.n_inner},
        "formats": {name: getattr(spec, name).to_dict() for name in FORMATS},
        "layers": layers,
        "output": {
            "phase_bits": out.phase_bits,
            "precoder": out.precoder.to_dict(),
            "cos": c.tolist(),
            "sin": s.tolist(),
            "vector_modulator": {
                "magnitude_bits": VM_MAGNITUDE_BITS,
                "layout": "bit 5 polarity (1 = positive), bits 4..0 magnitude round(|x| * 31)",
                "i": vm_i.tolist(),
                "q": vm_q.tolist(),
            },
        },
        "steps": {
            "format": spec.step.to_dict(),
            "mu": mu_w.tolist(),
            "lam": lam_w.tolist(),
            "note": "the datapath uses lambda_i * N / P_t per channel (and the noise s2 * N / P_t): "
                    "the host scales by N / P_t before loading",
        },
        "output_stage": _output_stage(config, spec),
    }


def _output_stage(config: ModelConfig, spec: HardwareSpec) -> dict[str, Any] | None:
    """The output stage's constant (``kernels.upga._output.output_fx``), or None without one."""
    from hbf_edge.kernels.upga import _search as _search_fixed
    from hbf_edge.kernels.upga.hardware import output_stage_word

    if config.output_xi is None:  # only the UPGA datapath has an output stage
        return None
    stage = {"xi": config.output_xi, "xi_k_over_n": output_stage_word(config.output_xi, spec),
             "format": spec.step.to_dict(),
             "note": "W = (G^H G + r F^H F)^-1 G^H with G = H^H F and r = xi_k_over_n * (s2 N / P_t), "
                     "then the normalisation; see kernels/upga/_output.py output_fx"}
    if config.code_search is not None:
        stage["code_search"] = {
            **config.code_search, "log_index_bits": _search_fixed.LOG_INDEX_BITS,
            "log_frac_bits": _search_fixed.LOG_FRAC_BITS, "log2_table": _search_fixed.log2_table().tolist(),
            "note": "before the output stage: coordinate descent over the last layer's codes, candidates c+-1..c+-span, "
                    "each scored by sum_k log2(a_k) - log2(b_k) with the output stage's W; log2(x) = "
                    "(bit length - 1) << log_frac_bits + log2_table[next log_index_bits bits]; see "
                    "kernels/upga/_search.py"}
    return stage
