"""Brevitas quantizers for the hardware formats: fixed point and Q-bit phases.

Both are defined by Brevitas parts, and both round in one place, :func:`round_ste` (native
operations, tested bit for bit against Brevitas' STE functions):

* :class:`FixedPointQuant` -- Brevitas ``IntQuant`` (signed, full range) with a constant
  power-of-two scale ``2**-frac_bits`` and ``bit_width = word_bits`` from a
  :class:`~hbf_edge.hw.spec.FixedPointFormat`; the float-to-int step is the format's rounding rule
  with a straight-through gradient (Brevitas' ``RoundSte`` = half to even, ``FloorSte``, or
  :class:`HalfUpSte` in its definition; :func:`round_ste` in its forward), then a saturating clamp.  Values stay exact multiples of the LSB in
  float64, so it reproduces :meth:`FixedPointFormat.quantize` value for value.

  Its forward runs ``IntQuant``'s steps with the format's constants (:meth:`FixedPointQuant.forward`
  says which); :meth:`FixedPointQuant.brevitas` runs ``IntQuant`` itself, and a test holds the two
  equal in values and gradients.  Why: ``IntQuant`` recomputes the clamp bounds from the
  bit-width tensor on every call (``min_int``, ``max_int``: powers, casts) and clamps with two
  ``where``: about 15 tensor operations and as many autograd nodes where the format needs five,
  and a QAT step of the UPGA network calls it about 400 times.  A cProfile of 10 QAT steps of
  the demo's network (batch 10, N = 64, M = K = 4, I = 10; 2026-12-07, ``scratch/s73/qatprof2.py``,
  the suite running beside it): 2.88 s with ``IntQuant``, 1.28 of them in its forward, against
  1.95 s with this forward; the same 10 steps of float training 0.59-0.97 s.
* :class:`PhaseQuant` -- nearest Q-bit code of an angle with the rule of
  :func:`hbf_edge.hw.spec.phase_to_code`: ``floor(theta 2**Q / 2 pi + 1/2)`` with a
  straight-through gradient (:func:`round_ste`, equal to Brevitas' ``floor_ste`` there), then
  reduced modulo ``2**Q``.  The wrap comes *before* anything could clamp, so
  a phase just below +pi lands on the code of -pi; the gradient passes straight through.
"""

from __future__ import annotations

import math

import torch
from brevitas.common import ExportMixin
from brevitas.core.function_wrapper import FloorSte, Identity, RoundSte, TensorClamp
from brevitas.core.quant import IntQuant
from brevitas.function.ops_ste import floor_ste
from torch import nn

from hbf_edge.errors import ConfigError
from hbf_edge.hw.spec import MAX_PHASE_BITS, FixedPointFormat

__all__ = ["HalfUpSte", "FixedPointQuant", "PhaseQuant", "round_ste"]


_ROUNDED = {"half_up": lambda v: torch.floor(v + 0.5), "half_even": torch.round, "floor": torch.floor}


def round_ste(x: torch.Tensor, rounding: str) -> torch.Tensor:
    """``x`` rounded by ``rounding`` (``half_up`` = ``floor(x + 1/2)``, ``half_even``, ``floor``)
    with a straight-through gradient, in native operations: the rounded detached value minus
    ``(x.detach() - x)``.

    The same values and gradients as Brevitas' STE functions (``RoundSte``, ``FloorSte``,
    :class:`HalfUpSte`), bit for bit, for finite ``x``: ``x.detach() - x`` is exactly ``+0.0``, and
    ``r - (+0.0)`` is ``r``, a ``-0.0`` included; the gradient reaches ``x`` through two exact
    negations, so an upstream ``-0.0`` stays one.  (On an infinite ``x`` the value is NaN where
    Brevitas gives the infinity.)  Why: Brevitas' STE is a Python ``autograd.Function``, a Python
    call forward and another backward on each of the ~400 quantizations of a UPGA QAT step
    (README, "QAT's rounding in native operations").
    """
    xd = x.detach()
    return _ROUNDED[rounding](xd) - (xd - x)


class HalfUpSte(nn.Module):
    """Round half up, ``floor(x + 1/2)``, with a straight-through gradient."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return floor_ste(x + 0.5)


_FLOAT_TO_INT = {"half_up": HalfUpSte, "half_even": RoundSte, "floor": FloorSte}


class FixedPointQuant(ExportMixin, nn.Module):
    """Fake-quantise to a saturating fixed-point format (dequantised output, STE gradient).

    Like a Brevitas quant proxy it has an export mode: an export manager gives it a handler
    (``export.upga.onnx_quant``) that emits the format as one quantization node.

    Parameters
    ----------
    fmt : FixedPointFormat
        Word length, fraction bits and rounding rule; must saturate (QAT has no wrap mode: a
        wrapping overflow has no useful gradient).
    """

    def __init__(self, fmt: FixedPointFormat) -> None:
        nn.Module.__init__(self)
        ExportMixin.__init__(self)
        if not fmt.saturate:
            raise ConfigError(f"quantization-aware training needs saturating formats, got {fmt}")
        self.fmt = fmt
        self.int_quant = IntQuant(
            narrow_range=False,
            signed=True,
            input_view_impl=Identity(),
            float_to_int_impl=_FLOAT_TO_INT[fmt.rounding](),
            tensor_clamp_impl=TensorClamp(),
        )
        self.register_buffer("scale", torch.tensor(math.ldexp(1.0, -fmt.frac_bits), dtype=torch.float64))
        self.register_buffer("zero_point", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("bit_width", torch.tensor(float(fmt.word_bits), dtype=torch.float64))
        # the same constants as Python numbers, for forward (the buffers: the state dict's keys)
        self._lsb = math.ldexp(1.0, -fmt.frac_bits)
        self._bounds = (float(fmt.min_int), float(fmt.max_int))

    @property
    def requires_export_handler(self) -> bool:
        return True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``IntQuant``'s steps with the format's constants: ``x / scale + zero_point`` (the
        ``+ 0.0`` kept: it turns a ``-0.0`` into ``+0.0`` as Brevitas does), the rounding rule's
        STE (:func:`round_ste`), the clamp to the word's range (``torch.clamp``: the same values, and the same
        gradient mask ``min <= x <= max`` as Brevitas' two ``where``), times ``scale``.  Equal to
        :meth:`brevitas` bit for bit, values and gradients, for finite inputs (on NaN the
        gradient differs: 0 here, passed through there)."""
        if self.export_mode:
            return self.export_handler(x)
        y = round_ste(x / self._lsb + 0.0, self.fmt.rounding)
        return torch.clamp(y, *self._bounds) * self._lsb

    def brevitas(self, x: torch.Tensor) -> torch.Tensor:
        """The quantization by Brevitas' ``IntQuant`` module itself (the definition
        :meth:`forward` is checked against)."""
        return self.int_quant(self.scale.to(x.dtype), self.zero_point.to(x.dtype), self.bit_width.to(x.dtype), x)

    def overflows(self, x: torch.Tensor) -> torch.Tensor:
        """How many entries of ``x`` the format saturates (a count, no gradient)."""
        with torch.no_grad():
            q = self.int_quant.float_to_int_impl(x / self.scale.to(x.dtype))
            return ((q > self.fmt.max_int) | (q < self.fmt.min_int)).sum()

    def extra_repr(self) -> str:
        return f"word_bits={self.fmt.word_bits}, frac_bits={self.fmt.frac_bits}, rounding={self.fmt.rounding}"


class PhaseQuant(nn.Module):
    """Nearest Q-bit phase code of an angle; returns the code's angle in ``[0, 2 pi)``.

    Parameters
    ----------
    bits : int
        Q, 1..16.
    """

    def __init__(self, bits: int) -> None:
        super().__init__()
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= MAX_PHASE_BITS:
            raise ConfigError(f"phase bits must be an integer in 1..{MAX_PHASE_BITS}, got {bits!r}")
        self.bits = bits
        self.n_codes = 1 << bits

    def codes(self, theta: torch.Tensor) -> torch.Tensor:
        """The codes as a float tensor of integers ``0 .. 2**Q - 1`` (differentiable by STE)."""
        c = round_ste(theta * (self.n_codes / (2.0 * math.pi)), "half_up")
        return torch.remainder(c, self.n_codes)  # wrap: -pi and pi - eps both give 2**(Q-1)

    def forward(self, theta: torch.Tensor) -> torch.Tensor:
        return self.codes(theta) * (2.0 * math.pi / self.n_codes)

    def extra_repr(self) -> str:
        return f"bits={self.bits}"
