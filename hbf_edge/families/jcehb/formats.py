"""The fixed-point formats and overflow sites of JCEHB's per-slot datapath (numpy only; the
hardware kernel, its integer reference and the quant stage read them from here).

Spec section 6.2 names one format per quantity; this datapath keeps the ones whose width a
designer would set separately and runs every intermediate value of CEDUN and HBDUN in one wide
``accumulator`` word (a chosen simplification: the spec's per-layer ``rls_P`` formats and the
block-floating-point ``gram`` are left out, and measured not to be needed at the embedded size,
README "JCEHB hardware kernel"):

* ``received``: the ADC words of the received pilots ``Y``;
* ``pilot``: the pilot ROM ``X``;
* ``coef``: the trained multipliers ``T`` of CEDUN and HBDUN (and ``B`` of the paper's inverse),
  ``mu`` and the folded ``T_p gamma^-1``, ``T_lambda mu``;
* ``accumulator``: the RLS state ``P, W, g, v, e``, the Grams, inverses, lambda, t and every sum;
* ``heq``: CEDUN's output ``H_hat``; ``precoder``: ``F_BB``; ``combiner``: ``W_BB``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hbf_edge.errors import ConfigError
from hbf_edge.hw.spec import FixedPointFormat

__all__ = ["JCEHB_FORMATS", "COUNTER_SITES", "JcehbFormats", "EXP2_TABLE_BITS", "T_RANGE"]

JCEHB_FORMATS = ("received", "pilot", "coef", "accumulator", "heq", "precoder", "combiner")
# where a value left its word (saturated or wrapped), or a division met zero; the kernel's
# counter columns in this order
COUNTER_SITES = ("input", "cedun", "reciprocal", "heq", "mmse", "dual", "gram", "inverse", "precoder", "norm",
                 "output")
EXP2_TABLE_BITS = 8  # 2^t: integer part a shift, fraction a 256-entry table (spec 6.3)
T_RANGE = (-4, 16)  # t is clamped (spec 2.5), so 2^t stays in range


@dataclasses.dataclass(frozen=True)
class JcehbFormats:
    """Word lengths of the datapath (defaults: measured, README "JCEHB hardware kernel")."""

    # integer bits from the embedded default's 1000 held-out slots (float kernel): |Y| <= 5.9,
    # |H_hat| <= 1.9, |F_BB| <= 1.2 at 10 dB; |W_BB| <= 0.5, 1.6 and 4.7 at 0, 10 and 20 dB (with
    # 2 integer bits the combiner saturated 43 words at 20 dB); a bit of headroom for larger arrays
    received: FixedPointFormat = FixedPointFormat(16, 11)
    pilot: FixedPointFormat = FixedPointFormat(12, 10)
    coef: FixedPointFormat = FixedPointFormat(16, 12)
    accumulator: FixedPointFormat = FixedPointFormat(32, 16)
    heq: FixedPointFormat = FixedPointFormat(16, 12)
    precoder: FixedPointFormat = FixedPointFormat(16, 13)
    combiner: FixedPointFormat = FixedPointFormat(16, 12)

    def __post_init__(self) -> None:
        fa = self.accumulator.frac_bits
        if fa < EXP2_TABLE_BITS:
            raise ConfigError(f"the accumulator needs at least {EXP2_TABLE_BITS} fraction bits (the 2^t table), "
                              f"got {fa}")
        if 3 * fa + 8 > 62:
            raise ConfigError(f"accumulator fraction bits {fa} leave no room in int64 for the power normalisation "
                              "(3 f + 8 <= 62)")
        for name in ("received", "pilot", "heq", "precoder", "combiner"):
            if getattr(self, name).frac_bits > fa:
                raise ConfigError(f"the {name} format has more fraction bits than the accumulator")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).to_dict() for name in JCEHB_FORMATS}

    @classmethod
    def from_dict(cls, data: Any) -> "JcehbFormats":
        if not isinstance(data, dict) or set(data) - set(JCEHB_FORMATS):
            raise ConfigError(f"formats must be an object with keys among {', '.join(JCEHB_FORMATS)}")
        return cls(**{k: FixedPointFormat.from_dict(v) for k, v in data.items()})
