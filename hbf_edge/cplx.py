"""Complex linear algebra in real arithmetic: the one helper every exported layer goes through.

A complex tensor is a :class:`C` pair ``(re, im)`` of real tensors of the same shape.  Layers
written with these helpers trace to real-only ONNX graphs and map one-to-one onto the real
arithmetic of the Numba kernels.  Matrices are batch first: ``[..., rows, cols]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["C", "from_complex", "to_complex", "mul", "matmul", "matmul_ah", "matmul_bh", "conj_t",
           "abs2", "scale", "inv", "eye"]


class C(NamedTuple):
    """A complex tensor as its real and imaginary parts."""

    re: torch.Tensor
    im: torch.Tensor

    def __add__(self, other: "C") -> "C":  # type: ignore[override]
        return C(self.re + other.re, self.im + other.im)

    def __sub__(self, other: "C") -> "C":
        return C(self.re - other.re, self.im - other.im)


def from_complex(z: torch.Tensor) -> C:
    return C(z.real.contiguous(), z.imag.contiguous())


def to_complex(z: C) -> torch.Tensor:
    return torch.complex(z.re, z.im)


def mul(a: C, b: C) -> C:
    """``a * b`` element by element (broadcasting)."""
    return C(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re)


def matmul(a: C, b: C) -> C:
    """``a @ b``."""
    return C(a.re @ b.re - a.im @ b.im, a.re @ b.im + a.im @ b.re)


def matmul_ah(a: C, b: C) -> C:
    """``a^H @ b`` without forming ``a^H``."""
    at_re, at_im = a.re.transpose(-1, -2), a.im.transpose(-1, -2)
    return C(at_re @ b.re + at_im @ b.im, at_re @ b.im - at_im @ b.re)


def matmul_bh(a: C, b: C) -> C:
    """``a @ b^H`` without forming ``b^H``."""
    bt_re, bt_im = b.re.transpose(-1, -2), b.im.transpose(-1, -2)
    return C(a.re @ bt_re + a.im @ bt_im, a.im @ bt_re - a.re @ bt_im)


def conj_t(a: C) -> C:
    """``a^H``."""
    return C(a.re.transpose(-1, -2), -a.im.transpose(-1, -2))


def abs2(a: C) -> torch.Tensor:
    """``|a|^2`` elementwise (real)."""
    return a.re * a.re + a.im * a.im


def scale(a: C, s: torch.Tensor) -> C:
    """``s * a`` for a real ``s`` broadcastable to ``a``."""
    return C(a.re * s, a.im * s)


def eye(n: int, like: torch.Tensor) -> C:
    e = torch.eye(n, dtype=like.dtype, device=like.device)
    return C(e, torch.zeros_like(e))


def inv(a: C) -> C:
    """Inverse of a batch of small Hermitian positive-definite matrices (real arithmetic).

    Gauss-Jordan on the real embedding ``[[Ar, -Ai], [Ai, Ar]]`` (symmetric positive definite
    when ``A`` is Hermitian PD, so no pivoting is needed), unrolled over the static size: only
    slicing, products and divisions, which trace to a plain ONNX graph.  Used for ``H^H H`` and
    ``F^H F`` of eq. (13).  Not for general matrices.
    """
    n = a.re.shape[-1]
    top = torch.cat([a.re, -a.im], dim=-1)
    bottom = torch.cat([a.im, a.re], dim=-1)
    m = torch.cat([top, bottom], dim=-2)
    size = 2 * n
    out = torch.eye(size, dtype=m.dtype, device=m.device).expand(m.shape).clone()
    for col in range(size):
        pivot = m[..., col : col + 1, col : col + 1]
        row_m = m[..., col : col + 1, :] / pivot
        row_o = out[..., col : col + 1, :] / pivot
        factor = m[..., :, col : col + 1]
        keep = torch.zeros(size, 1, dtype=m.dtype, device=m.device)
        keep[col] = 1.0
        m = m - (factor * (1.0 - keep)) * row_m - keep * m + keep * row_m
        out = out - (factor * (1.0 - keep)) * row_o - keep * out + keep * row_o
    return C(out[..., :n, :n], out[..., n:, :n])
