"""Pure-Python integer reference of JCEHB's hardware datapath (tests only).

Written from the contract in ``kernels/jcehb/_fixed.py``'s docstring, not from the kernel:
Python ints (no overflow, so an int64 overflow in the kernel shows up as a mismatch), complex
values as ``(re, im)`` tuples, exact rounding in integers (``naive_fixed._round_div``),
``math.isqrt``, and the Gauss-Jordan of ``tests/naive_fixed.py``.  Slow: use few channels.
"""

import math
from fractions import Fraction
from types import SimpleNamespace

import naive_fixed
from naive_fixed import _fit, _round_div

SITES = ("input", "cedun", "reciprocal", "heq", "mmse", "dual", "gram", "inverse", "precoder", "norm", "output")


class _GaussJordan(naive_fixed.Datapath):
    """The UPGA reference's Gauss-Jordan on the JCEHB accumulator, counting into ``counts``."""

    def __init__(self, acc, counts):  # noqa: D107 - no phase table needed
        self.spec = SimpleNamespace(accumulator=acc)
        self.fA = acc.frac_bits
        self.counts = counts


class Datapath:
    def __init__(self, formats):
        self.f = formats
        self.acc = formats.accumulator
        self.fA, self.fC = self.acc.frac_bits, formats.coef.frac_bits
        self.mode = self.acc.rounding
        self.counts = dict.fromkeys(SITES, 0)
        self.gj = _GaussJordan(self.acc, self.counts)

    # -- arithmetic ----------------------------------------------------------------------
    @staticmethod
    def rnd(x, s, mode):
        return _round_div(x, 2**s, mode) if s > 0 else x * 2 ** (-s)

    def fit(self, q, site, fmt=None):
        q, over = _fit(q, fmt or self.acc)
        self.counts[site] += over
        return q

    def rq(self, x, s, site):
        return self.fit(self.rnd(x, s, self.mode), site)

    def tq(self, T, x, q, site):
        """``T x + q`` with a complex coef multiplier."""
        re = T[0] * x[0] - T[1] * x[1]
        im = T[0] * x[1] + T[1] * x[0]
        return (self.fit(self.rnd(re, self.fC, self.mode) + q[0], site),
                self.fit(self.rnd(im, self.fC, self.mode) + q[1], site))

    def div(self, num, den, mode=None):
        return _round_div(num, den, mode or self.mode)

    def exp2(self, t, table, site):
        ti = math.floor(Fraction(t, 2**self.fA))
        j = math.floor(Fraction(t - ti * 2**self.fA, 2 ** (self.fA - 8)))
        return self.fit(self.rnd(table[j], -ti, self.mode), site)

    @staticmethod
    def mul(a, b):
        return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]

    @staticmethod
    def mulc(a, b):
        """``conj(a) b``."""
        return a[0] * b[0] + a[1] * b[1], a[0] * b[1] - a[1] * b[0]

    # -- CEDUN (17d); (17a)-(17c) are the superframe's gains v ----------------------------------
    def cedun(self, Y, X, ce, vr, vi):
        """``Y[k][r][n]``, ``X[a][n]`` pairs, gains ``v[n][k][a]``; returns ``H_hat[k][r][a]`` heq pairs."""
        K, R, L, N = len(Y), len(Y[0]), len(Y[0][0]), len(X)
        fA, fX, fY = self.fA, self.f.pilot.frac_bits, self.f.received.frac_bits
        H = []
        for k in range(K):
            W = [[(0, 0)] * R for _ in range(N)]
            for n in range(L):
                x = [X[a][n] for a in range(N)]
                e = []
                for r in range(R):
                    wx = [self.mulc(W[a][r], x[a]) for a in range(N)]  # conj(w) x
                    y = Y[k][r][n]
                    e.append(tuple(self.fit(self.rnd(y[i], fY - fA, self.mode)
                                            - self.rnd(sum(t[i] for t in wx), fX, self.mode), "cedun") for i in (0, 1)))
                for a in range(N):
                    v = (int(vr[n][k][a]), int(vi[n][k][a]))
                    for r in range(R):
                        ve = self.mul(v, (e[r][0], -e[r][1]))  # v conj(e)
                        s = (self.fit(W[a][r][0] + self.rnd(ve[0], fA, self.mode), "cedun"),
                             self.fit(W[a][r][1] + self.rnd(ve[1], fA, self.mode), "cedun"))
                        T = (int(ce[12][n][k][a][r]), int(ce[13][n][k][a][r]))
                        q = (int(ce[14][n][k][a][r]), int(ce[15][n][k][a][r]))
                        W[a][r] = self.tq(T, s, q, "cedun")
            heq = self.f.heq
            s = fA - heq.frac_bits
            H.append([[(self.fit(self.rnd(W[a][r][0], s, heq.rounding), "heq", heq),
                        self.fit(self.rnd(-W[a][r][1], s, heq.rounding), "heq", heq)) for a in range(N)]
                      for r in range(R)])
        return H

    # -- HBDUN (31) ------------------------------------------------------------------------
    def normalise(self, F, G, K, S):
        N, fA = len(F), self.fA
        for k in range(K):
            p = 0
            for s in range(S):
                col = k * S + s
                for a in range(N):
                    t = [self.mul(G[a][b], F[b][col]) for b in range(N)]
                    t = (self.rq(sum(v[0] for v in t), fA, "norm"), self.rq(sum(v[1] for v in t), fA, "norm"))
                    p += F[a][col][0] * t[0] + F[a][col][1] * t[1]
            p = self.rq(p, fA, "norm")
            if p <= 0:
                self.counts["reciprocal"] += 1
                continue
            scale = self.fit(math.isqrt(self.div(S * 2 ** (3 * fA), p, "floor")), "norm")
            for s in range(S):
                for a in range(N):
                    col = k * S + s
                    F[a][col] = (self.rq(F[a][col][0] * scale, fA, "norm"), self.rq(F[a][col][1] * scale, fA, "norm"))

    def gains(self, H, F, k, site):
        R, N, C = len(H[0]), len(H[0][0]), len(F[0])
        out = []
        for r in range(R):
            row = []
            for c in range(C):
                t = [self.mul(H[k][r][a], F[a][c]) for a in range(N)]
                row.append((self.rq(sum(v[0] for v in t), self.fA, site), self.rq(sum(v[1] for v in t), self.fA, site)))
            out.append(row)
        return out

    def mmse(self, H, F, nu, S):
        K, R, fA = len(H), len(H[0]), self.fA
        W = []
        for k in range(K):
            A = self.gains(H, F, k, "mmse")
            C = []
            for p in range(R):
                row = []
                for q in range(R):
                    t = [self.mulc(A[q][c], A[p][c]) for c in range(len(A[0]))]  # a_p conj(a_q)
                    re = self.fit(self.rnd(sum(v[0] for v in t), fA, self.mode) + (nu if p == q else 0), "mmse")
                    row.append((re, self.rq(sum(v[1] for v in t), fA, "mmse")))
                C.append(row)
            Ci = self.gj.cinverse(C, "inverse")
            Wk = []
            for p in range(R):
                row = []
                for s in range(S):
                    t = [self.mul(Ci[p][q], A[q][k * S + s]) for q in range(R)]
                    row.append((self.rq(sum(v[0] for v in t), fA, "mmse"), self.rq(sum(v[1] for v in t), fA, "mmse")))
                Wk.append(row)
            W.append(Wk)
        return W

    def hbdun(self, Hq, G, hb, hbw, hbf, hbs, nu, lam_floor, table, exact, S):
        K, R, N = len(Hq), len(Hq[0]), len(Hq[0][0])
        fA, fC, mode, one = self.fA, self.fC, self.mode, 2**self.fA
        KS, Lh = K * S, len(hb[0])
        sh = self.f.heq.frac_bits - fA
        H = [[[(self.rnd(h[0], sh, mode), self.rnd(h[1], sh, mode)) for h in row] for row in Hk] for Hk in Hq]
        F = [[(H[k][s][a][0], -H[k][s][a][1]) for k in range(K) for s in range(S)] for a in range(N)]
        self.normalise(F, G, K, S)
        t = [[0] * S for _ in range(K)]
        pair = lambda arr, j, *i: (int(arr[j][i]), int(arr[j + 1][i]))  # noqa: E731
        for i in range(Lh):
            M = self.mmse(H, F, nu, S)
            W = [[[self.tq(pair(hbw, 0, i, k, p, s), M[k][p][s], pair(hbw, 2, i, k, p, s), "mmse") for s in range(S)]
                  for p in range(R)] for k in range(K)]
            lam = [[max(self.fit(self.rnd(int(hbs[0][i][k]) * self.exp2(t[k][s], table, "dual"), fC, mode)
                                 + int(hbs[1][i][k]), "dual"), lam_floor) for s in range(S)] for k in range(K)]
            tau = 0
            hw = [[None] * S for _ in range(K)]
            for k in range(K):
                for s in range(S):
                    w2 = sum(W[k][p][s][0] ** 2 + W[k][p][s][1] ** 2 for p in range(R))
                    tau += self.rnd(lam[k][s] * self.rq(w2, fA, "gram"), fA, mode)
                    col = []
                    for a in range(N):
                        v = [self.mulc(H[k][p][a], W[k][p][s]) for p in range(R)]
                        col.append((self.rq(sum(x[0] for x in v), fA, "gram"), self.rq(sum(x[1] for x in v), fA, "gram")))
                    hw[k][s] = col
            tau = self.fit(self.div(self.rnd(self.fit(tau, "gram") * nu, fA, mode), KS), "gram")
            C = []
            for a in range(N):
                row = []
                for b in range(N):
                    re, im = (tau if a == b else 0), 0
                    for k in range(K):
                        for s in range(S):
                            hh = self.mul(hw[k][s][a], (hw[k][s][b][0], -hw[k][s][b][1]))
                            re += self.rnd(lam[k][s] * self.rnd(hh[0], fA, mode), fA, mode)
                            im += self.rnd(lam[k][s] * self.rnd(hh[1], fA, mode), fA, mode)
                    row.append((self.fit(re, "gram"), self.fit(im, "gram")))
                C.append(row)
            Minv = self.gj.cinverse(C, "inverse") if exact else None
            for k in range(K):
                if exact:
                    Mk = Minv
                else:
                    Mk = []
                    for a in range(N):
                        d = C[a][a][0]
                        if d == 0:
                            self.counts["reciprocal"] += 1
                            inv_d = 0
                        else:
                            inv_d = self.fit(self.div(one * 2**fA, d), "reciprocal")
                        Mk.append([(self.fit(self.rnd(int(hb[0][i][k][a][b]) * inv_d, fC, mode) + int(hb[2][i][k][a][b]),
                                             "inverse"),
                                    self.fit(self.rnd(int(hb[1][i][k][a][b]) * inv_d, fC, mode) + int(hb[3][i][k][a][b]),
                                             "inverse")) for b in range(N)])
                for s in range(S):
                    for a in range(N):
                        v = [self.mul(Mk[a][b], hw[k][s][b]) for b in range(N)]
                        u = (self.rq(sum(x[0] for x in v), fA, "precoder"), self.rq(sum(x[1] for x in v), fA, "precoder"))
                        u = (self.rq(lam[k][s] * u[0], fA, "precoder"), self.rq(lam[k][s] * u[1], fA, "precoder"))
                        F[a][k * S + s] = self.tq(pair(hbf, 0, i, k, a), u, pair(hbf, 2, i, k, a), "precoder")
            self.normalise(F, G, K, S)
            for k in range(K):
                A = self.gains(H, F, k, "dual")
                for s in range(S):
                    tot, d = 0, (0, 0)
                    for c in range(KS):
                        v = [self.mulc(W[k][p][s], A[p][c]) for p in range(R)]
                        g = (self.rq(sum(x[0] for x in v), fA, "dual"), self.rq(sum(x[1] for x in v), fA, "dual"))
                        tot += g[0] ** 2 + g[1] ** 2
                        if c == k * S + s:
                            d = g
                    w2 = sum(W[k][p][s][0] ** 2 + W[k][p][s][1] ** 2 for p in range(R))
                    eps = self.rq((one - d[0]) ** 2 + d[1] ** 2 + tot - (d[0] ** 2 + d[1] ** 2)
                                  + nu * self.rq(w2, fA, "dual"), fA, "dual")
                    at = self.exp2(t[k][s], table, "dual")
                    inner = self.fit(t[k][s] + self.rnd(int(hbs[4][i][k]) * (one - self.rq(eps * at, fA, "dual")), fC,
                                                        mode), "dual")
                    tn = self.fit(self.rnd(int(hbs[2][i][k]) * inner, fC, mode) + int(hbs[3][i][k]), "dual")
                    t[k][s] = min(max(tn, -4 * one), 16 * one)
        W = self.mmse(H, F, nu, S)
        pre, cmb = self.f.precoder, self.f.combiner
        out = lambda z, fmt: (self.fit(self.rnd(z[0], fA - fmt.frac_bits, fmt.rounding), "output", fmt),  # noqa
                              self.fit(self.rnd(z[1], fA - fmt.frac_bits, fmt.rounding), "output", fmt))
        return [[out(z, pre) for z in row] for row in F], [[[out(z, cmb) for z in row] for row in Wk] for Wk in W]


def slot(formats, Y, words, nu, exact, S):
    """One channel: ``Y`` int array ``[K, R, L, 2]``, ``words`` :func:`pack_hw`'s, ``nu`` an
    accumulator word.  Returns ``(H_hat, F_bb, W_bb, counts)`` with pairs as the last axis."""
    d = Datapath(formats)
    Yp = [[[(int(v[0]), int(v[1])) for v in row] for row in Yk] for Yk in Y]
    X = [[(int(words["xr"][a][n]), int(words["xi"][a][n])) for n in range(words["xr"].shape[1])]
         for a in range(words["xr"].shape[0])]
    H = d.cedun(Yp, X, words["ce"], words["vgr"], words["vgi"])
    G = [[(int(words["gfr"][a][b]), int(words["gfi"][a][b])) for b in range(len(X))] for a in range(len(X))]
    F, W = d.hbdun(H, G, words["hb"], words["hbw"], words["hbf"], words["hbs"], nu, words["lam_floor"],
                   [int(v) for v in words["table"]], exact, S)
    return H, F, W, d.counts
