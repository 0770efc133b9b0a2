"""Pure-Python integer reference of the UPGANet (JCAS) hardware mode (tests only).

Written from the datapath contract in ``kernels/upganet/_fixed.py`` on top of the UPGA
reference (:mod:`naive_fixed`): Python ints, exact rounding in integers (``naive_fixed._round_div``),
brute-force nearest codes.  Slow; used on a few small channels.
"""

import math
from fractions import Fraction

import numpy as np

from naive_fixed import SITES as UPGA_SITES
from naive_fixed import Datapath, _quantize, _round_div

SITES = UPGA_SITES + ("X", "Y", "sense_F", "sense_W")


class JcasDatapath(Datapath):
    def __init__(self, spec, psi, kf, kw):
        super().__init__(spec)
        self.counts.update(dict.fromkeys(SITES[len(UPGA_SITES):], 0))
        self.psi, self.kf, self.kw = psi, kf, kw

    def residual(self, Fw, W):
        """``X = F W`` and ``Y = X (X^H X) - Psi_n X``, accumulator."""
        acc = self.spec.accumulator
        N, M, K = len(Fw), len(Fw[0]), len(W[0])
        X = [[self.store_c(self.csum(self.cmul(Fw[n][m], W[m][k]) for m in range(M)), acc, "X",
                           self.fL + self.fW - self.fA) for k in range(K)] for n in range(N)]
        Q = [[self.store_c(self.csum(self.cmul(X[n][k], X[n][l], conj_a=True) for n in range(N)), acc, "Y", self.fA)
              for l in range(K)] for k in range(K)]
        Y = []
        for n in range(N):
            row = []
            for k in range(K):
                xq = self.csum(self.cmul(X[n][l], Q[l][k]) for l in range(K))
                px = self.csum(self.cmul(self.psi[n][m], X[m][k]) for m in range(N))
                row.append(tuple(self.store(self.shift(xq[t], self.fA, acc) - self.shift(px[t], self.fH, acc), acc, "Y")
                                 for t in range(2)))
            Y.append(row)
        return Y

    def unit(self, xr, xi):
        """Projection (7) into the lut format: ``x / isqrt(|x|^2)``, (1, 0) for x = 0."""
        lut = self.spec.lut
        r = math.isqrt(xr * xr + xi * xi)
        if r == 0:
            return 2**self.fL, 0
        return tuple(self.store(_round_div(v * 2**self.fL, r, lut.rounding), lut, "F_update") for v in (xr, xi))

    def f_step(self, h, Fw, W, noise, mu, to_code=True):
        grd, acc = self.spec.gradient, self.spec.accumulator
        N, K, M = len(h), len(h[0]), len(Fw[0])
        _, Cm = self.weighted_e(h, Fw, W, noise)
        D = [[self.store_c(self.csum(self.cmul(W[m][l], Cm[k][l], conj_a=True) for l in range(K)),
                           grd, "D", self.fW) for m in range(M)] for k in range(K)]
        Y = self.residual(Fw, W)
        new = [[0] * M for _ in range(N)]
        for n in range(N):
            for m in range(M):
                rate = self.csum(self.cmul(h[n][k], D[k][m]) for k in range(K))
                T = self.store_c(self.csum(self.cmul(W[m][l], Y[n][l], conj_a=True) for l in range(K)),
                                 acc, "sense_F", self.fW)
                drop = self.fS + self.fA - self.fG
                g = [self.store(self.shift(rate[t], self.fH, grd) - self.shift(self.kf * T[t], drop, grd), grd, "grad_F")
                     for t in range(2)]
                c, s = self.F(Fw, n, m)
                up = 2 ** (self.fG - self.fL)
                xr = self.store(c * up + self.shift(mu * g[0], self.fS, grd), grd, "F_update")
                xi = self.store(s * up + self.shift(mu * g[1], self.fS, grd), grd, "F_update")
                new[n][m] = self.nearest(xr, xi) if to_code else self.unit(xr, xi)
        return (new, self.words(new)) if to_code else (None, new)

    def w_step(self, h, Fw, W, noise, lam):
        acc, grd = self.spec.accumulator, self.spec.gradient
        N, K, M = len(h), len(h[0]), len(Fw[0])
        G, Cm = self.weighted_e(h, Fw, W, noise)
        Y = self.residual(Fw, W)
        Wacc = []
        for m in range(M):
            row = []
            for l in range(K):
                rate = self.csum(self.cmul(G[k][m], Cm[k][l], conj_a=True) for k in range(K))
                V = self.store_c(self.csum(self.cmul(self.F(Fw, n, m), Y[n][l], conj_a=True) for n in range(N)),
                                 acc, "sense_W", self.fL)
                drop = self.fS + self.fA - self.fG
                gw = [self.store(self.shift(rate[t], self.fA, grd) - self.shift(self.kw * V[t], drop, grd), grd, "grad_W")
                      for t in range(2)]
                up = 2 ** (self.fA - self.fW)
                row.append(tuple(self.store(W[m][l][t] * up + self.shift(lam * gw[t], self.fS + self.fG - self.fA, acc),
                                            acc, "W_update") for t in range(2)))
            Wacc.append(row)
        return self.normalize(Fw, Wacc)

    def init(self, h, M, steer_codes):
        """Eq. (17): the UPGA initialisation with the targets' codes in place of the DFT codes."""
        N, K = len(h), len(h[0])
        codes = [[self.nearest(*h[n][k]) for k in range(K)] + list(steer_codes[n]) for n in range(N)]
        return codes, self.init_w(h, codes)


def forward(h, p_t, noise, model, spec, layer_specs=None):
    """Hardware forward of one channel ``h`` (complex [N, K]) in Python ints.

    The boundary, from the contract: the channel and ``Psi_n = N Psi_1`` in the channel format,
    ``noise N / p_t`` (accumulator), ``mu xi`` and ``lam_i xi N / p_t`` (step, ``xi = 1/ln 2``),
    ``kappa_F = 2 omega ln2 (p_t/N)^2`` and ``kappa_W = eta kappa_F`` (step), and the codes of the
    steering phases of the first ``M - K`` targets (layer 0's phase bits, nearest code with ties
    counter-clockwise: ``floor(theta 2^Q / 2 pi + 1/2) mod 2^Q``).

    Returns ``codes [N][M]``, ``W [M][K]`` of (re, im) words, and the overflow counts per site.
    """
    N, K = h.shape
    M = spec.n_rf
    xi = 1.0 / math.log(2.0)
    layers = list(layer_specs) if layer_specs is not None else [spec] * len(model.lam)
    psi = [[(_quantize(N * model.psi1[n, m].real, spec.channel)[0], _quantize(N * model.psi1[n, m].imag, spec.channel)[0])
            for m in range(N)] for n in range(N)]
    kappa = 2.0 * model.omega * math.log(2.0) * (p_t / N) ** 2
    (kf, o1), (kw, o2) = _quantize(kappa, spec.step), _quantize(kappa * model.eta, spec.step)
    paths = [JcasDatapath(ls, psi, kf, kw) for ls in layers]
    counts = paths[0].counts
    for dp in paths[1:]:
        dp.counts = counts
    inputs = o1 + o2
    hq = []
    for n in range(N):
        row = []
        for k in range(K):
            (re, a), (im, b) = _quantize(h[n, k].real, spec.channel), _quantize(h[n, k].imag, spec.channel)
            inputs += a + b
            row.append((re, im))
        hq.append(row)
    noise_q, o = _quantize(noise * N / p_t, spec.accumulator)
    inputs += o
    mu_q = [[_quantize(v * xi, spec.step) for v in row] for row in np.asarray(model.mu)]
    lam_q = [_quantize(v * xi * (N / p_t), spec.step) for v in np.asarray(model.lam)]
    inputs += sum(o for row in mu_q for _, o in row) + sum(o for _, o in lam_q)
    n_codes = 2 ** layers[0].phase_bits
    steer_codes = [[math.floor(Fraction(float(np.angle(model.steer[n, p]))) * n_codes / Fraction(2 * math.pi)
                               + Fraction(1, 2)) % n_codes for p in range(M - K)] for n in range(N)]
    codes, W = paths[0].init(hq, M, steer_codes)
    Fw = paths[0].words(codes)
    for i, dp in enumerate(paths):
        pre, prev = layers[i].precoder, layers[i - 1].precoder if i else None
        if prev is not None and (prev.frac_bits, prev.max_int) != (pre.frac_bits, pre.max_int):
            W = [[dp.store_c(w, pre, "W", prev.frac_bits - pre.frac_bits) for w in row] for row in W]
        J = len(mu_q[i])
        for j in range(J):
            new, Fw = dp.f_step(hq, Fw, W, noise_q, mu_q[i][j][0], to_code=j == J - 1)
            codes = new if new is not None else codes
        W = dp.w_step(hq, Fw, W, noise_q, lam_q[i][0])
    return codes, W, {"input": inputs, **counts}
