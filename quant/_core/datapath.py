"""Torch emulation of the hardware datapath (``kernels/upga/_fixed.py``) for QAT.

Values are float64 tensors that hold exact multiples of each format's LSB: a stored value is
``FixedPointQuant(fmt)(v)`` (Brevitas round + saturate, straight-through gradient), a term that
the kernel rounds but does not saturate is ``round_only``.  Sums of products of such values are
exact in float64 while the integer products stay below 2**53, which holds for the formats and
magnitudes of the embedded default; where they would not, the emulation can differ from the
integer kernel by one LSB (the residual difference the agreement test measures).

Operations that have no float counterpart -- the integer reciprocals ``1/a_k``, the
``isqrt`` of the normalisation, the nearest code by table projection, and the Gauss-Jordan
inverse of eq. (13) -- are computed exactly in int64; where a gradient is needed it comes from
a float surrogate through a straight-through estimator (``value + (s - s.detach())``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hbf_edge.cplx import C
from hbf_edge.kernels._core.codes import nearest_codes_into
from hbf_edge.kernels._core.fixed import ACC
from hbf_edge.kernels._core.linalg_fixed import inv_fx_batch
from hbf_edge.kernels._core.tables import format_row

from hbf_edge.quant._core.quantizers import FixedPointQuant, round_ste

__all__ = ["to_int", "div_round", "isqrt", "round_only", "recip", "nearest_codes", "ste", "gj_inverse",
           "gj_inverse_words", "half_exponent", "rshift", "fit_word", "Words"]


class Words:
    """Complex integer words as an ``(re, im)`` pair of int64 tensors (the torch models of the
    JCEHB and MSER datapaths, :mod:`quant.jcehb.datapath`, :mod:`quant.mser.datapath`)."""

    __slots__ = ("re", "im")

    def __init__(self, re: torch.Tensor, im: torch.Tensor) -> None:
        self.re, self.im = re, im


def ste(value: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """``value`` in the forward pass, the gradient of ``surrogate`` in the backward pass."""
    return value.detach() + (surrogate - surrogate.detach())


def to_int(v: torch.Tensor, frac_bits: int) -> torch.Tensor:
    """The integer word of an exact multiple of ``2**-frac_bits``."""
    return torch.round(v.detach() * math.ldexp(1.0, frac_bits)).to(torch.int64)


def div_round(num: torch.Tensor, den: torch.Tensor, rounding: str) -> torch.Tensor:
    """``num / den`` in int64 rounded by ``rounding`` (``den != 0``), as the kernel's div_round."""
    neg = den < 0
    num = torch.where(neg, -num, num)
    den = torch.where(neg, -den, den)
    if rounding == "floor":
        return torch.div(num, den, rounding_mode="floor")
    if rounding == "half_up":
        return torch.div(2 * num + den, 2 * den, rounding_mode="floor")
    q = torch.div(num, den, rounding_mode="floor")
    r = num - q * den
    return q + ((2 * r > den) | ((2 * r == den) & (q % 2 == 1))).to(torch.int64)


def isqrt(n: torch.Tensor) -> torch.Tensor:
    """``floor(sqrt(n))`` for int64 ``0 <= n < 2**62``: float estimate, corrected exactly."""
    s = torch.floor(torch.sqrt(n.to(torch.float64))).to(torch.int64)
    s = s - (s * s > n).to(torch.int64)
    return s + ((s + 1) * (s + 1) <= n).to(torch.int64)


def round_only(q: FixedPointQuant, v: torch.Tensor) -> torch.Tensor:
    """Round ``v`` to ``q``'s LSB with its rule and STE, without saturating (a kernel ``rshift``)."""
    scale = q.scale.to(v.dtype)
    return round_ste(v / scale, q.fmt.rounding) * scale


def fit_int(x: torch.Tensor, q: FixedPointQuant) -> torch.Tensor:
    return torch.clamp(x, q.fmt.min_int, q.fmt.max_int)


def recip(a: torch.Tensor, acc: FixedPointQuant, grd: FixedPointQuant) -> torch.Tensor:
    """``1/a`` in the gradient format by one integer division, as the kernel computes it."""
    fA, fG = acc.fmt.frac_bits, grd.fmt.frac_bits
    a_int = torch.clamp(to_int(a, fA), min=1)
    q = fit_int(div_round(torch.full_like(a_int, 1 << (fA + fG)), a_int, grd.fmt.rounding), grd)
    # the surrogate divides by the same floor of one LSB as the kernel's max(a, 1): a = 0 (an
    # interference-free user, or both powers saturated) must not turn the STE into inf - inf
    return ste(q.to(a.dtype) * math.ldexp(1.0, -fG), 1.0 / torch.clamp(a, min=math.ldexp(1.0, -fA)))


def norm_scale(norm2: torch.Tensor, n_antennas: int, acc: FixedPointQuant, grd: FixedPointQuant) -> torch.Tensor:
    """``isqrt(N 2**(fA + 2 fG) // ||F W||^2)`` in the gradient format (eq. 9, normalised units)."""
    fA, fG = acc.fmt.frac_bits, grd.fmt.frac_bits
    n2 = torch.clamp(to_int(norm2, fA), min=1)
    r = torch.div(torch.full_like(n2, n_antennas << (fA + 2 * fG)), n2, rounding_mode="floor")
    s = fit_int(isqrt(r), grd)
    return ste(s.to(norm2.dtype) * math.ldexp(1.0, -fG),
               torch.sqrt(n_antennas / torch.clamp(norm2, min=math.ldexp(1.0, -acc.fmt.frac_bits))))


def half_exponent(d: torch.Tensor, acc: FixedPointQuant) -> torch.Tensor:
    """``t = floor((bitlen(word) - 1 - fA) / 2)`` of accumulator values ``d`` (0 where the word
    is <= 0), as the output stage's block floating point (int64).  The bit length is a count of
    comparisons with powers of two: exact, and plain operators in ONNX."""
    fA = acc.fmt.frac_bits
    word = to_int(d, fA)
    powers = torch.tensor([1 << b for b in range(63)], dtype=torch.int64)
    bitlen = (word[..., None] >= powers).sum(dim=-1)
    return torch.where(word > 0, torch.div(bitlen - 1 - fA, 2, rounding_mode="floor"), torch.zeros_like(word))


def nearest_codes(x: C, lut_c: torch.Tensor, lut_s: torch.Tensor, frac_bits: tuple[int, int] | None = None
                  ) -> torch.Tensor:
    """Nearest code of each vector by table projection, the kernel's exact rule (int64 codes).

    Outside a trace, with ``frac_bits = (fx, fL)`` (``x`` holds multiples of ``2**-fx`` and
    the tables multiples of ``2**-fL``, as every stored value of the datapath does), the words
    go through the integer kernel's :func:`~hbf_edge.kernels._core.codes.nearest_code`: the
    same codes (the projections are exact in both) without the brute force over the ``2**Q``
    codes that a trace records (:func:`_nearest_codes`), where the demo's QAT stage spent 22.6
    of its 65.7 s under cProfile at 8-bit internal phases (50.5 s without the profiler; 27.6 s
    for the whole stage since, README)."""
    if frac_bits is None or torch.jit.is_tracing():
        return _nearest_codes(x, lut_c, lut_s)
    fx, fL = frac_bits
    xr = _words(x.re, fx)
    xi = _words(x.im, fx)
    out = np.empty(xr.shape, np.int64)
    tables = _words(lut_c, fL), _words(lut_s, fL)
    for t in tables:  # read-only, as the hardware kernels' tables: one compiled nearest_code for both
        t.setflags(write=False)
    nearest_codes_into(xr.reshape(-1), xi.reshape(-1), *tables, out.reshape(-1))
    return torch.from_numpy(out)


def _words(v: torch.Tensor, frac_bits: int) -> np.ndarray:
    """The integer words of a tensor of multiples of ``2**-frac_bits`` (exact), contiguous int64."""
    return np.ascontiguousarray((v.detach().to(torch.float64) * math.ldexp(1.0, frac_bits)).numpy().astype(np.int64))


def _nearest_codes(x: C, lut_c: torch.Tensor, lut_s: torch.Tensor) -> torch.Tensor:
    """Nearest code of each vector by table projection, the kernel's exact rule (int64 codes).

    ``argmax_c xr cos_c + xi sin_c``; a tie goes to the most counter-clockwise tied code as seen
    from the vector (largest ``angle(c) - angle(x)`` in (-pi, pi]; the table's rounding can tie
    codes that are not neighbours); ``(0, 0)`` gives 0.  Tied codes maximise the projection, so
    their offsets lie in [-pi/2, pi/2], where the offset grows with its sine: the tie is decided
    by ``|x| sin(angle(c) - angle(x)) = xr sin(a_c) - xi cos(a_c)`` with the exact code angles,
    which needs no ``atan2`` (whose ONNX form is a conditional subgraph).  Brute force over the
    ``2**Q`` codes (memory ``x.numel() * 2**Q``: callers chunk batches).
    """
    xr, xi = x.re.detach(), x.im.detach()
    proj = xr[..., None] * lut_c + xi[..., None] * lut_s
    is_max = proj == proj.max(dim=-1, keepdim=True).values
    n = lut_c.shape[-1]
    angles = torch.arange(n, dtype=xr.dtype) * (2.0 * math.pi / n)
    ccw = xr[..., None] * torch.sin(angles) - xi[..., None] * torch.cos(angles)
    code = torch.argmax(ccw.masked_fill(~is_max, -math.inf), dim=-1)
    return torch.where((xr == 0) & (xi == 0), torch.zeros_like(code), code)


def rshift(x: torch.Tensor, s: int | torch.Tensor, rounding: str) -> torch.Tensor:
    """``x * 2**-s`` rounded by ``rounding`` in int64, as the kernels' ``rshift`` (``s <= 0``: an
    exact left shift).  ``s`` may be a tensor of shifts (each in -62..62), broadcast with ``x``;
    shifts are multiplications and floor divisions by powers of two (ONNX's ``BitShift`` is for
    unsigned words only)."""
    if isinstance(s, int):
        if s <= 0:
            return x * (1 << -s)
        d, half = 1 << s, 1 << (s - 1)
        if rounding == "half_up":
            return _floor_pow2(x + half, d)[0]
        q, r = _floor_pow2(x, d)
        if rounding == "floor":
            return q
        return q + ((r > half) | ((r == half) & (torch.remainder(q, 2) == 1))).to(torch.int64)
    pow2 = torch.tensor([1 << b for b in range(63)], dtype=torch.int64)
    left = x * pow2[torch.clamp(-s, min=0)]
    d = pow2[torch.clamp(s, min=0)]
    return torch.where(s <= 0, left, div_round(x, d.expand_as(left), rounding))


def _floor_pow2(x: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``floor(x / d)`` and ``x mod d`` for ``d > 0``: the remainder (ONNX ``Mod``, the divisor's
    sign) first, so that the division is exact and truncation does no harm -- three ONNX nodes,
    where a floor division of signed integers exports as eight."""
    r = torch.remainder(x, d)
    return torch.div(x - r, d, rounding_mode="trunc"), r


def fit_word(x: torch.Tensor, fmt: object) -> torch.Tensor:
    """Saturate (or, for a wrapping ``FixedPointFormat``, wrap) int64 ``x`` into ``fmt``'s word,
    as the kernels' ``fit`` (without its counter)."""
    lo, hi = fmt.min_int, fmt.max_int
    if fmt.saturate:
        return torch.clamp(x, lo, hi)
    span = hi - lo + 1
    return x - torch.div(x - lo, span, rounding_mode="floor") * span


def gj_inverse(a: torch.Tensor, acc: FixedPointQuant) -> torch.Tensor:
    """Gauss-Jordan inverse (partial pivoting, largest |pivot|, first on ties) of real matrices
    ``a [B, n, n]`` in the accumulator format, exactly as the kernel's ``inv_fx`` (int64)."""
    fA = acc.fmt.frac_bits
    return gj_inverse_words(to_int(a, fA), acc.fmt).to(a.dtype) * math.ldexp(1.0, -fA)


def gj_inverse_words(x: torch.Tensor, fmt: object) -> torch.Tensor:
    """:func:`gj_inverse` on the words ``x [B, n, n]`` (int64) of the format ``fmt``
    (a ``FixedPointFormat``, saturating or wrapping): the inverse's words.

    Outside a trace the words go through the integer kernel's ``inv_fx``
    (:func:`~hbf_edge.kernels._core.linalg_fixed.inv_fx_batch`): the same words (both are exact
    integer arithmetic with the same pivots, roundings and fits; the QAT networks' tests against
    the kernels check them), in microseconds where the traced form below takes about 2 ms per
    call of the UPGA QAT network (about 1.5 s of the demo's QAT stage; README, "QAT's rounding
    in native operations").  The traced form: the matrix and the identity that becomes its
    inverse are one augmented ``[B, n, 2n]`` array: every operation of a step is entry by entry
    (the row swap, the scaling of the pivot row, the elimination), so each entry is computed as
    on two arrays, and a trace records each step once instead of twice."""
    if not torch.jit.is_tracing():
        return _gj_inverse_kernel(x, fmt)
    fA = fmt.frac_bits
    mode = fmt.rounding
    B, n, _ = x.shape
    aug = torch.cat([x, torch.eye(n, dtype=torch.int64).expand(B, n, n) * (1 << fA)], dim=-1)
    idx = torch.arange(n)
    for col in range(n):  # masks instead of in-place indexing: the graph stays plain for ONNX
        is_col = idx == col
        piv = col + torch.argmax(torch.abs(aug[:, col:, col]), dim=1, keepdim=True)  # [B, 1]
        perm = torch.where(is_col, piv, torch.where(idx == piv, col, idx))  # swap rows col, piv
        aug = torch.gather(aug, 1, perm[:, :, None].expand(B, n, 2 * n))
        p = aug[:, col, col]
        ok = (p != 0)[:, None]
        r = fit_word(div_round(torch.full_like(p, 1 << (2 * fA)), torch.where(p == 0, torch.ones_like(p), p), mode),
                     fmt)
        pivot_row = torch.where(ok, fit_word(rshift(aug[:, col, :] * r[:, None], fA, mode), fmt), aug[:, col, :])
        f = torch.where(ok & ~is_col, aug[:, :, col], torch.zeros_like(aug[:, :, col]))
        aug = torch.where(is_col[None, :, None], pivot_row[:, None, :],
                          fit_word(aug - rshift(f[:, :, None] * pivot_row[:, None, :], fA, mode), fmt))
    return aug[:, :, n:]


def _gj_inverse_kernel(x: torch.Tensor, fmt: object) -> torch.Tensor:
    """:func:`gj_inverse_words` by the integer kernel (no trace, no gradient: the words)."""
    fm = np.zeros((ACC + 1, 5), np.int64)  # inv_fx reads the accumulator's row only
    fm[ACC] = format_row(fmt)
    fm.setflags(write=False)  # read-only, as the hardware kernels' tables: one compiled inv_fx for both
    words = np.ascontiguousarray(x.detach().numpy(), dtype=np.int64)
    out = np.empty_like(words)
    inv_fx_batch(words, out, fm)
    return torch.from_numpy(out)
