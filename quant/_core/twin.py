"""Integer words with a float twin: straight-through gradients through an integer datapath.

A :class:`Twin` is a pair of tensors of one shape: ``i``, the int64 words the datapath computes
(exactly, by the same operations as the int64 torch models of :mod:`quant.jcehb.datapath` and
:mod:`quant.mser.datapath`, which run on Twins unchanged), and
``f``, a float64 tensor in the same units (a word ``w`` of a format with ``b`` fraction bits is
``f = w``, not ``w 2^-b``) that carries the gradient.  Additions, multiplications, sums,
reshapes, selections and concatenations act on both; every operation that rounds (a shift
right, a division, a square root, an inverse, a table) gives ``f`` the value of the rounded word
and the gradient of the unrounded float operation (a straight-through estimator), and a
saturating ``fit`` passes no gradient where the word saturates.  So the forward values are the
datapath's words (``f`` equals ``i`` wherever float64 holds the word: below 2**53), and the
backward pass is that of the float computation evaluated at the datapath's own values.

Why a pair rather than float64 words alone (:mod:`quant._core.datapath`'s way for UPGA): the
JCEHB and MSER datapaths multiply 32-bit accumulator words, whose products float64 does not
hold; the int64 track keeps the forward bit-exact whatever the magnitudes.

The datapath models are written against the torch API on int64 tensors; a Twin joins them
through ``__torch_function__`` (``torch.where``, ``cat``, ``stack``, ``clamp``, ``div``,
``*_like``) and through this module's :func:`rshift`, :func:`fit_word`, :func:`div_round`,
:func:`isqrt`, :func:`gj_inverse_words` and :func:`follow`, which take plain int64 tensors as
well (then they are :mod:`quant._core.datapath`'s).
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable

import numpy as np
import torch

from hbf_edge.quant._core import datapath as dp

__all__ = ["Twin", "rshift", "fit_word", "div_round", "isqrt", "gj_inverse_words", "follow", "ints", "floats",
           "word_units"]


def _snap(i: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """The word ``i`` as the forward value, the gradient of ``surrogate``."""
    return i.to(torch.float64) + (surrogate - surrogate.detach())


def ints(x: Any) -> Any:
    """The int64 track of ``x`` (``x`` itself when it is no Twin)."""
    return x.i if isinstance(x, Twin) else x


def floats(x: Any) -> Any:
    """The float track of ``x``: a Twin's ``f``, an int64 tensor as float64, anything else as it is."""
    if isinstance(x, Twin):
        return x.f
    if isinstance(x, torch.Tensor) and x.dtype == torch.int64:
        return x.to(torch.float64)
    return x


def word_units(fmt: Any, x: torch.Tensor) -> torch.Tensor:
    """Values ``x`` in the words of ``fmt`` (``x 2^frac``), saturated where ``fmt`` saturates: the
    float twin of a constant rounded to ``fmt``."""
    w = x * math.ldexp(1.0, fmt.frac_bits)
    return torch.clamp(w, fmt.min_int, fmt.max_int) if fmt.saturate else w


def _tracks(args: Any, track: Callable[[Any], Any]) -> Any:
    if isinstance(args, (list, tuple)):
        return type(args)(_tracks(a, track) for a in args)
    if isinstance(args, dict):
        return {k: _tracks(v, track) for k, v in args.items()}
    return track(args)


def _both(func: Callable[..., Any], args: tuple, kwargs: dict | None) -> "Twin":
    """``func`` on the int track and on the float track (an operation that does not round)."""
    kwargs = kwargs or {}
    return Twin(func(*_tracks(args, ints), **_tracks(kwargs, ints)),
                func(*_tracks(args, floats), **_tracks(kwargs, floats)))


# torch operations that are exact on integer words (no rounding): a Twin applies them to both
# tracks; a wrap (``remainder``) passes the gradient unchanged, a clamp none where it clamps
_EXACT = frozenset([torch.where, torch.cat, torch.stack, torch.clamp, torch.remainder, torch.add, torch.sub, torch.mul,
                    torch.Tensor.add, torch.Tensor.sub, torch.Tensor.mul, torch.Tensor.expand_as,
                    torch.Tensor.__add__, torch.Tensor.__radd__, torch.Tensor.__sub__, torch.Tensor.__rsub__,
                    torch.Tensor.__mul__, torch.Tensor.__rmul__])


class Twin:
    """Int64 words ``i`` and their float twin ``f`` (module notes)."""

    __slots__ = ("i", "f")
    __hash__ = None  # type: ignore[assignment]  # == compares words

    def __init__(self, i: torch.Tensor, f: torch.Tensor) -> None:
        self.i, self.f = i, f

    @classmethod
    def words(cls, i: torch.Tensor | np.ndarray, surrogate: torch.Tensor) -> "Twin":
        """Words ``i`` (int64 tensor, or a packed numpy array) whose gradient is ``surrogate``'s
        (the same units: a word, not a value)."""
        if isinstance(i, np.ndarray):
            i = torch.from_numpy(np.ascontiguousarray(i, dtype=np.int64))
        return cls(i, _snap(i, surrogate))

    @property
    def shape(self) -> torch.Size:
        return self.i.shape

    # -- operations that do not round: both tracks --------------------------------------
    @classmethod
    def __torch_function__(cls, func: Callable[..., Any], types: Any, args: tuple = (), kwargs: dict | None = None):
        if func is torch.div:
            return _div(*args, **(kwargs or {}))
        if func in (torch.full_like, torch.zeros_like, torch.ones_like):  # constants: words only
            return func(*_tracks(args, ints), **(kwargs or {}))
        if func in _EXACT:
            return _both(func, args, kwargs)
        # an operation without a rule could round (its float twin would then hold no word) or
        # pass a wrong gradient: refuse it rather than guess
        raise TypeError(f"Twin words have no rule for {getattr(func, '__qualname__', func)}: add one to "
                        "quant/_core/twin.py (both tracks if it is exact on integers, else a straight-through rule)")

    def __add__(self, o: Any) -> "Twin":
        return _both(operator.add, (self, o), None)

    def __radd__(self, o: Any) -> "Twin":
        return _both(operator.add, (o, self), None)

    def __sub__(self, o: Any) -> "Twin":
        return _both(operator.sub, (self, o), None)

    def __rsub__(self, o: Any) -> "Twin":
        return _both(operator.sub, (o, self), None)

    def __mul__(self, o: Any) -> "Twin":
        return _both(operator.mul, (self, o), None)

    def __rmul__(self, o: Any) -> "Twin":
        return _both(operator.mul, (o, self), None)

    def __neg__(self) -> "Twin":
        return Twin(-self.i, -self.f)

    def __getitem__(self, idx: Any) -> "Twin":
        return Twin(self.i[idx], self.f[idx])

    def sum(self, *dims: Any) -> "Twin":
        return Twin(self.i.sum(*dims), self.f.sum(*dims))

    def reshape(self, *shape: Any) -> "Twin":
        return Twin(self.i.reshape(*shape), self.f.reshape(*shape))

    def transpose(self, a: int, b: int) -> "Twin":
        return Twin(self.i.transpose(a, b), self.f.transpose(a, b))

    def permute(self, *dims: Any) -> "Twin":
        return Twin(self.i.permute(*dims), self.f.permute(*dims))

    def expand(self, *shape: Any) -> "Twin":
        return Twin(self.i.expand(*shape), self.f.expand(*shape))

    def expand_as(self, other: Any) -> "Twin":
        return self.expand(other.shape)

    def repeat_interleave(self, n: int) -> "Twin":
        return Twin(self.i.repeat_interleave(n), self.f.repeat_interleave(n))

    # comparisons decide on the words (masks, pivots, branches of the datapath)
    def __gt__(self, o: Any) -> torch.Tensor:
        return self.i > ints(o)

    def __ge__(self, o: Any) -> torch.Tensor:
        return self.i >= ints(o)

    def __lt__(self, o: Any) -> torch.Tensor:
        return self.i < ints(o)

    def __le__(self, o: Any) -> torch.Tensor:
        return self.i <= ints(o)

    def __eq__(self, o: Any) -> torch.Tensor:  # type: ignore[override]
        return self.i == ints(o)

    def __ne__(self, o: Any) -> torch.Tensor:  # type: ignore[override]
        return self.i != ints(o)


def _div(num: Any, den: Any, rounding_mode: str | None = None) -> Twin:
    """``torch.div`` with a rounding mode: the words' quotient, the float quotient's gradient."""
    i = torch.div(ints(num), ints(den), rounding_mode=rounding_mode)
    return Twin.words(i, floats(num) / floats(den))


# -- operations that round: the datapath's, with the float operation's gradient -------------

def follow(word: torch.Tensor, x: Any, surrogate: Callable[..., torch.Tensor]) -> Any:
    """``word`` (int64, computed from ``ints(x)``) as a Twin whose gradient is ``surrogate(x.f)``
    when ``x`` is a Twin; else ``word``.  ``x`` may be a tuple of operands: then the surrogate
    takes their float tracks, and a Twin comes out if any of them is one."""
    xs = x if isinstance(x, tuple) else (x,)
    if not any(isinstance(v, Twin) for v in xs):
        return word
    return Twin.words(word, surrogate(*(floats(v) for v in xs)))


def rshift(x: Any, s: Any, rounding: str) -> Any:
    """:func:`quant._core.datapath.rshift`; gradient of ``x 2^-s``."""
    si = ints(s)
    word = dp.rshift(ints(x), si, rounding)
    if not isinstance(x, Twin):  # the datapath's own words: no scale to compute
        return word
    scale = math.ldexp(1.0, -si) if isinstance(si, int) else torch.exp2(-si.to(torch.float64))
    return follow(word, x, lambda f: f * scale)


def fit_word(x: Any, fmt: Any) -> Any:
    """:func:`quant._core.datapath.fit_word`; a saturated word passes no gradient, a wrapped one
    passes it unchanged."""
    return follow(dp.fit_word(ints(x), fmt), x,
                  (lambda f: torch.clamp(f, fmt.min_int, fmt.max_int)) if fmt.saturate else (lambda f: f))


def div_round(num: Any, den: Any, rounding: str) -> Any:
    """:func:`quant._core.datapath.div_round`; gradient of ``num / den``."""
    return follow(dp.div_round(ints(num), ints(den), rounding), (num, den), operator.truediv)


def isqrt(n: Any) -> Any:
    """:func:`quant._core.datapath.isqrt`; gradient of ``sqrt(n)`` (``n >= 1`` where it is used)."""
    return follow(dp.isqrt(ints(n)), n, lambda f: torch.sqrt(torch.clamp(f, min=1.0)))


def gj_inverse_words(x: Any, fmt: Any) -> Any:
    """:func:`quant._core.datapath.gj_inverse_words`; gradient of the float inverse in the
    format's units, ``2^(2 f) X^-1``."""
    scale = math.ldexp(1.0, 2 * fmt.frac_bits)
    return follow(dp.gj_inverse_words(ints(x), fmt), x, lambda f: scale * torch.linalg.inv_ex(f)[0])
