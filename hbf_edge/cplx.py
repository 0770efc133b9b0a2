"""Complex linear algebra in real arithmetic: the one helper every exported layer goes through.

A complex tensor is a :class:`C` pair ``(re, im)`` of real tensors of the same shape.  Layers
written with these helpers trace to real-only ONNX graphs and map one-to-one onto the real
arithmetic of the Numba kernels.  Matrices are batch first: ``[..., rows, cols]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["C", "from_complex", "to_complex", "matmul", "matmul_ah", "matmul_bh", "conj_t",
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
    """Inverse of a batch of small square complex matrices through the real embedding.

    ``[[Ar, -Ai], [Ai, Ar]]`` is the real 2n x 2n matrix of the complex map; its inverse holds
    ``inv(A)`` in the same pattern.  Used for the M x M and K x K pseudo-inverses of eq. (13).
    """
    n = a.re.shape[-1]
    top = torch.cat([a.re, -a.im], dim=-1)
    bottom = torch.cat([a.im, a.re], dim=-1)
    big = torch.cat([top, bottom], dim=-2)
    inv_big = torch.linalg.inv(big)
    return C(inv_big[..., :n, :n], inv_big[..., n:, :n])
