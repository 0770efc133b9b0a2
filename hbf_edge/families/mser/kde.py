"""The KDE objective's derivative with respect to the effective channel, for QPSK and 16-QAM,
written once for numpy arrays (gradient descent) and torch tensors (the network).

Every update of Algorithm 1 differentiates the KDE objective (15), which depends on the design
only through ``E_k = W_k^H U_k H_k F V`` ``[D_k, D]``.  This module gives ``N_k = -grad_{E_k} f``
(``grad = 2 df/dE*``, spec 2.1's convention); the chain to V, W, theta_U and theta_F
(:func:`hbf_edge.families.mser.gd.gradients`) is the same for both constellations.  With the
sampled vectors ``S [D, J]``, ``Y_k = E_k S`` and the kernel width ``varrho``:

* QPSK, eq. (16)-(19) [R]: ``N_k = c0 Beta_k S^H``,
  ``Beta_k = e^{-(Re Y)^2 / 2 varrho^2} o Re S_k + j e^{-(Im Y)^2 / 2 varrho^2} o Im S_k``,
  ``c0 = 1 / (J sqrt(2 pi) varrho)``.
* 16-QAM, eq. (47)-(48) [R] (spec 1.5): stream (k, i) with desired gain ``c = E_k[i, (k, i)]``
  is read after the rotation ``conj(c) / |c|`` (the paper's (46), applied to the stream's
  output, which leaves every other stream alone), ``u_j = Y_j conj(c) / |c|``, and
  ``P^R = (phi / J) sum_j Q(x^R_j / varrho)``, ``x^R_j = Re u_j - |c| (Re b_j - 1)``: the
  distance to the lower boundary of the symbol's decision region (45); ``P^I`` the same with Im;
  ``phi = (2 sqrt(M) - 2) / sqrt(M) = 1.5`` (Chen et al., the paper's [41]).  The paper omits
  the gradients ("similar steps"); differentiating through ``c`` too (its modulus and its
  phase; spec 1.5 [C]), row i of ``N_k`` is::

      phi c0 (c / |c|) [ (Beta S^H)_i + e_(k,i)^T sum_j ( e^R_j (j Im u_j / |c| - (Re b_j - 1))
                                                        + e^I_j (-j Re u_j / |c| - (Im b_j - 1)) ) ]

  with ``Beta_j = e^R_j + j e^I_j``, ``e^R_j = e^{-(x^R_j)^2 / 2 varrho^2}``.  Checked against
  autograd (``tests/hbf_edge/mser/test_gd.py``).  The lower-boundary form under-counts the
  outer levels' single boundary; it is the paper's objective, not the metric (the metric,
  :func:`hbf_edge.families.mser.ser.ser_semi_analytic`, is exact).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["PHI", "neg_grad_e", "own_stream_mask", "rotate_streams"]

PHI = {"qpsk": 1.0, "16qam": 1.5}  # (2 sqrt(M) - 2) / sqrt(M)


def own_stream_mask(K: int, Dk: int) -> np.ndarray:
    """``M [K, D_k, D]``: 1 where column ``d`` is stream (k, i)'s own, so ``c = sum_d E M``."""
    return np.eye(K * Dk).reshape(K, Dk, K * Dk)


def rotate_streams(E: Any, Y: Any, xp: Any = np) -> tuple[Any, Any, Any]:
    """16-QAM's reading of each stream (46): ``c`` ``[B, K, D_k, 1]`` its desired gain, ``|c|``
    and the outputs ``Y`` rotated by ``conj(c) / |c|``."""
    mask = own_stream_mask(E.shape[1], E.shape[2])
    c = (E * (mask if xp is np else xp.from_numpy(mask))).sum(-1)[..., None]
    mag = abs(c) + 1e-300
    return c, mag, Y * (c.conj() / mag)


def neg_grad_e(E: Any, S: Any, varrho: Any, constellation: str, xp: Any = np, Y: Any = None) -> Any:
    """``N_k = -grad_{E_k}`` of the KDE objective (module notes), ``[B, K, D_k, D]``.

    ``E [B, K, D_k, D]`` complex, ``S [D, J]`` the sampled vectors, ``varrho`` a number or an
    array broadcasting to ``[B, K, 1, 1]`` (one width per user); ``xp``: ``numpy`` or ``torch``
    (the arrays' library); ``Y``: ``E S`` when the caller has it (one graph node for autograd)."""
    K, Dk = E.shape[1], E.shape[2]
    J = S.shape[-1]
    Y = E @ S if Y is None else Y  # [B, K, Dk, J]
    Sk = S.reshape(K, Dk, J)[None]  # the desired symbols
    S_h = S.conj().T[None]  # [1, J, D]
    if constellation == "qpsk":
        beta = (xp.exp(-Y.real ** 2 / (2 * varrho ** 2)) * Sk.real
                + 1j * xp.exp(-Y.imag ** 2 / (2 * varrho ** 2)) * Sk.imag)
        return (beta @ S_h) / (J * math.sqrt(2 * math.pi) * varrho)
    c0 = PHI[constellation] / (J * math.sqrt(2.0 * math.pi) * varrho)
    c, mag, u = rotate_streams(E, Y, xp)
    mask = own_stream_mask(K, Dk)
    mask = mask if xp is np else xp.from_numpy(mask)
    br, bi = Sk.real - 1.0, Sk.imag - 1.0
    er = xp.exp(-(u.real - mag * br) ** 2 / (2 * varrho ** 2))
    ei = xp.exp(-(u.imag - mag * bi) ** 2 / (2 * varrho ** 2))
    own = (er * (1j * u.imag / mag - br) + ei * (-1j * u.real / mag - bi)).sum(-1)[..., None]  # [B, K, Dk, 1]
    return c0 * (c / mag) * ((er + 1j * ei) @ S_h + own * mask)
