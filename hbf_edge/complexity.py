"""Analytic operation counts of the UPGA forward, stage by stage (pure Python).

Counts follow the real-arithmetic kernels (``kernels/upga/_float.py``): a real multiply or add
is 1 flop, a complex multiply-accumulate 8; square roots and divisions are counted apart as
special operations (``sqrt``, ``div``), as are the DFT-beam cos/sin of eq. (12) (``trig``).
The Gauss-Jordan inverse of an ``n x n`` real matrix is counted as ``n`` reciprocals plus
``4 n^3`` flops (row scaling ``2n`` and elimination ``4n(n-1)`` per column, rounded up).
"""

from __future__ import annotations

import dataclasses

__all__ = ["OpCount", "upga_ops"]


@dataclasses.dataclass(frozen=True)
class OpCount:
    """Operations of a stage.  ``matmul`` is the part of ``flops`` spent in matrix products
    (8 per complex multiply-accumulate), the part a framework's flop counter sees."""

    flops: int = 0
    sqrt: int = 0
    div: int = 0
    trig: int = 0
    matmul: int = 0

    def __add__(self, other: "OpCount") -> "OpCount":
        return OpCount(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def __mul__(self, times: int) -> "OpCount":
        return OpCount(*(a * times for a in dataclasses.astuple(self)))

    __rmul__ = __mul__

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _mm(a: int, b: int, c: int) -> OpCount:
    """A complex product ``[a x b] @ [b x c]``: 8 flops per multiply-accumulate."""
    return OpCount(flops=8 * a * b * c, matmul=8 * a * b * c)


def _weighted_e(N: int, M: int, K: int, gram: bool = True) -> OpCount:
    # G = H^H F (unless ``gram`` is False: G is reused), E = G W, |E|^2 and a_k (3 per entry),
    # b_k (3 per user), 1/a, 1/b (2 div per user), 1/a - 1/b (1), C = E coef (2 per entry)
    rest = _mm(K, M, K) + OpCount(flops=3 * K * K + 3 * K + K + 2 * K * K, div=2 * K)
    return _mm(K, N, M) + rest if gram else rest


def _normalize(N: int, M: int, K: int) -> OpCount:
    # X = F W, ||X||^2 (3NK), sqrt(P_t)/||X|| (2 sqrt, 1 div), W *= s (2MK)
    return _mm(N, M, K) + OpCount(flops=3 * N * K + 2 * M * K, sqrt=2, div=1)


def _inverse(n: int) -> OpCount:
    return OpCount(flops=4 * n**3, div=n)


def upga_ops(N: int, M: int, K: int, n_layers: int, n_inner: int) -> dict[str, OpCount]:
    """Operation counts per channel: ``init``, ``f_step``, ``w_step``, ``layer`` (one layer run
    alone, as the profiler times it), ``total`` (the whole forward, with the reused G),
    ``output`` (the quantized datapath's optional output stage, not in ``total``) and
    ``search_eval`` (one candidate evaluation of the optional code search)."""
    for name, v in (("N", N), ("M", M), ("K", K), ("n_layers", n_layers), ("n_inner", n_inner)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1")
    init = (
        OpCount(flops=3 * N * K, sqrt=N * K, div=2 * N * K, trig=2 * N * (M - K))  # eq. (12)
        + _mm(K, N, K) + _inverse(2 * K)  # H^H H and its inverse
        + _mm(N, K, K)  # (H^H)^+ = H (H^H H)^-1
        + _mm(M, N, M) + _inverse(2 * M)  # F^H F and its inverse
        + _mm(M, N, K) + _mm(M, M, K)  # F^H (H^H)^+, then W_0
        + _normalize(N, M, K)
    )
    # eq. (6)-(7): D = C W^H, H D, F + mu g (4NM), |.|^2 (3NM), scale (2NM)
    f_tail = _mm(K, K, M) + _mm(N, K, M) + OpCount(flops=9 * N * M, sqrt=N * M, div=N * M)
    f_step = _weighted_e(N, M, K) + f_tail
    # eq. (8)-(9): G^H C, W + lambda g (4MK), normalisation
    w_step = _weighted_e(N, M, K) + _mm(M, K, K) + OpCount(flops=4 * M * K) + _normalize(N, M, K)
    layer = n_inner * f_step + w_step
    # the float kernel's layers after the first reuse the G = H^H F of the W-step before them
    # (the W-step leaves F as it is), so their first F-step skips that product
    later_layer = _weighted_e(N, M, K, gram=False) + f_tail + (n_inner - 1) * f_step + w_step
    # output stage: G = H^H F, G^H G, F^H F, the regularised sum (4M^2), its inverse, times G^H
    output = (_mm(K, N, M) + _mm(M, K, M) + _mm(M, N, M) + OpCount(flops=4 * M * M) + _inverse(2 * M)
              + _mm(M, M, K) + _normalize(N, M, K))
    # one candidate of the code search (kernels/upga/_search.py): the output stage on its codes,
    # then the score from the stage's G: E = G W, |E|^2 and a_k, b_k (3 per entry, 1 per user),
    # two log2 table reads and a subtraction per user (counted as 3 flops)
    search_eval = output + _mm(K, M, K) + OpCount(flops=3 * K * K + 4 * K)
    return {"init": init, "f_step": f_step, "w_step": w_step, "layer": layer,
            "total": init + layer + (n_layers - 1) * later_layer,
            "output": output, "search_eval": search_eval}
