"""The fixed-point formats, angle words and overflow sites of MSER's hardware datapath (numpy
only; the hardware kernel, its integer reference and the quant stage read them from here).

Spec section 6 names the quantities; this datapath keeps one format per quantity a designer
would size separately and runs every intermediate value (``F V``, ``U_k H_k``, the outputs
``Y``, the weighted sums ``M``, the gradients, norms) in one wide ``accumulator`` word:

* ``channel``: the channel words, **noise-normalised** (``H / sigma_n``, spec 2.3: the outputs
  ``Y / sigma_n`` and the prefactor ``c = 1 / (J sqrt(2 pi) r)`` then do not depend on the SNR);
* ``lut``: cos / sin of the phase tables (the internal one and the two output code tables);
* ``step``: the per-layer constants (steps ``mu o a``, ``1 / (sqrt 2 r)``, ``c``, the step
  factor ``g = sigma / sigma_ref``, the transmit power);
* ``kernel``: the Gaussian-weight table ``e^{-u}``, ``u`` in ``[0, 12]`` (``e^{-12} < 2^-17``);
* ``precoder``: ``V``; ``combiner``: ``W_k`` (noise-normalised by the combiner normalisation).

Angles (``theta_F``, ``theta_U``) are ``angle_bits``-bit binary angle words, ``2^angle_bits``
= 2 pi (spec 6.2): the wrap at +-pi is the word's own overflow.  Inside the layers cos / sin come
from a ``2^internal_phase_bits``-entry table; only the output is rounded to the Q-bit codes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hbf_edge.errors import ConfigError
from hbf_edge.hw.spec import FixedPointFormat

__all__ = ["MSER_FORMATS", "COUNTER_SITES", "MserFormats", "KERNEL_TABLE_BITS", "KERNEL_U_MAX", "RAD_FRAC"]

MSER_FORMATS = ("channel", "lut", "accumulator", "step", "kernel", "precoder", "combiner")
# where a value left its word (saturated or wrapped), or a norm met zero; the kernel's counter
# columns in this order
COUNTER_SITES = ("input", "forward", "weights", "gradient", "step", "precoder", "combiner", "norm")
KERNEL_TABLE_BITS = 5  # the e^{-u} table has an entry every 2^-5 in u, linear interpolation between
KERNEL_U_MAX = 12  # u >= 12: the weight is 0 and the sample adds nothing (spec 6.3)
RAD_FRAC = 16  # fraction bits of the radians -> angle-word factor 2^angle_bits / (2 pi)


@dataclasses.dataclass(frozen=True)
class MserFormats:
    """Word lengths of the datapath (defaults: README "MSER hardware datapath", where they are
    measured)."""

    channel: FixedPointFormat = FixedPointFormat(16, 8)  # H / sigma_n: |entries| <~ 90 at 25 dB
    lut: FixedPointFormat = FixedPointFormat(12, 10)
    accumulator: FixedPointFormat = FixedPointFormat(32, 16)
    step: FixedPointFormat = FixedPointFormat(32, 24)  # mu_P ~ 1e-4 keeps ~1700 LSBs
    kernel: FixedPointFormat = FixedPointFormat(16, 14)
    precoder: FixedPointFormat = FixedPointFormat(16, 14)  # ||F V|| = 1: entries ~ 1 / sqrt(N_t D)
    combiner: FixedPointFormat = FixedPointFormat(16, 13)  # ||U^H w|| = 1: entries ~ 1 / sqrt(N_r)
    angle_bits: int = 16
    internal_phase_bits: int = 10

    def __post_init__(self) -> None:
        fa = self.accumulator.frac_bits
        for name in ("channel", "lut", "kernel", "precoder", "combiner"):
            if getattr(self, name).frac_bits > fa:
                raise ConfigError(f"the {name} format has more fraction bits than the accumulator")
        if fa < KERNEL_TABLE_BITS:
            raise ConfigError(f"the accumulator needs at least {KERNEL_TABLE_BITS} fraction bits (the e^-u table)")
        if self.kernel.word_bits - self.kernel.frac_bits < 2:
            raise ConfigError("the kernel format needs 2 integer bits (the table holds e^0 = 1)")
        for name, lo, hi in (("angle_bits", 8, 24), ("internal_phase_bits", 1, 16)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"{name} must be an integer in {lo}..{hi}, got {v!r}")
        if self.internal_phase_bits > self.angle_bits:
            raise ConfigError(f"internal_phase_bits {self.internal_phase_bits} exceed angle_bits {self.angle_bits}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name).to_dict() for name in MSER_FORMATS}
        out.update(angle_bits=self.angle_bits, internal_phase_bits=self.internal_phase_bits)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "MserFormats":
        allowed = set(MSER_FORMATS) | {"angle_bits", "internal_phase_bits"}
        if not isinstance(data, dict) or set(data) - allowed:
            raise ConfigError(f"formats must be an object with keys among {', '.join(sorted(allowed))}")
        return cls(**{k: (FixedPointFormat.from_dict(v) if k in MSER_FORMATS else v) for k, v in data.items()})
