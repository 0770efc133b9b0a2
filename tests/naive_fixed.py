"""Pure-Python integer reference of the UPGA hardware mode (tests only).

Written from the datapath contract in ``kernels/upga/_fixed.py``, not from the kernel: Python
ints (no overflow, so an int64 overflow in the kernel shows up as a mismatch), exact rounded
division in integers (:func:`_round_div`; ``fractions.Fraction`` where a float enters),
``math.isqrt``, and the nearest phase code by brute force over the whole codebook.  Slow; used on
modest batches.
"""

import math
from fractions import Fraction

import numpy as np

SITES = ("init", "G", "E", "power", "reciprocal", "C", "D", "grad_F", "F_update", "grad_W",
         "W_update", "norm", "W", "output")


def _round(value, mode):
    """Round a Fraction to an int by the format's rule."""
    if mode == "floor":
        return math.floor(value)
    if mode == "half_up":
        return math.floor(value + Fraction(1, 2))
    return round(value)  # Fraction.__round__ rounds half to even


def _round_div(num, den, mode):
    """``num / den`` (integers, ``den != 0``) rounded by the format's rule, in integers: with
    ``den > 0``, ``divmod`` gives the floor ``q`` and the remainder ``r`` in ``[0, den)``; half
    up adds one from ``r / den >= 1/2``, half to even from above a half, or at a half when ``q``
    is odd.  The same value as ``_round(Fraction(num, den), mode)``
    (``tests/kernels/_core/test_naive_rounding.py``); the references spent most of their time
    building those Fractions (``tests/kernels/upga/test_hardware.py``: 70.1 s with them, 19.9 s
    with this, 2026-12-07)."""
    if den < 0:
        num, den = -num, -den
    q, r = divmod(num, den)
    if mode == "floor":
        return q
    if mode == "half_up":
        return q + (2 * r >= den)
    return q + (2 * r > den or (2 * r == den and q % 2 == 1))


def _quantize(x, fmt):
    """Exact quantisation of a float (a binary fraction) to a word; returns (word, overflow)."""
    q = _round(Fraction(float(x)) * 2**fmt.frac_bits, fmt.rounding)
    return _fit(q, fmt)


def _fit(q, fmt):
    if fmt.min_int <= q <= fmt.max_int:
        return q, False
    if fmt.saturate:
        return (fmt.max_int if q > fmt.max_int else fmt.min_int), True
    span = 2**fmt.word_bits
    return (q - fmt.min_int) % span + fmt.min_int, True


class Datapath:
    """One channel's worth of the integer datapath, counting overflows per site."""

    def __init__(self, spec):
        self.spec = spec
        self.counts = dict.fromkeys(SITES, 0)
        n = 2**spec.phase_bits
        angles = [2 * math.pi * c / n for c in range(n)]
        self.lut = [(_quantize(math.cos(a), spec.lut)[0], _quantize(math.sin(a), spec.lut)[0]) for a in angles]
        self.fH, self.fL = spec.channel.frac_bits, spec.lut.frac_bits
        self.fA, self.fG = spec.accumulator.frac_bits, spec.gradient.frac_bits
        self.fS, self.fW = spec.step.frac_bits, spec.precoder.frac_bits

    # -- arithmetic ---------------------------------------------------------------------
    def store(self, x, fmt, site, drop=0):
        """Value ``x * 2**-drop`` rounded by ``fmt``'s rule, then fitted into ``fmt``."""
        q = _round_div(x, 2**drop, fmt.rounding) if drop > 0 else x * 2 ** (-drop)
        q, over = _fit(q, fmt)
        self.counts[site] += over
        return q

    def shift(self, x, drop, fmt):
        """Rounded shift without fitting (a term of a sum that is fitted afterwards)."""
        return _round_div(x, 2**drop, fmt.rounding) if drop > 0 else x * 2 ** (-drop)

    def nearest(self, xr, xi):
        if xr == 0 and xi == 0:
            return 0
        proj = [xr * c + xi * s for c, s in self.lut]
        best = max(proj)
        winners = [c for c, p in enumerate(proj) if p == best]
        if len(winners) == 1:
            return winners[0]
        # a tie goes to the most counter-clockwise tied code as seen from the vector: the
        # largest offset angle(code) - angle(x) in (-pi, pi]; float atan2 only orders codes
        # that are whole code steps apart
        n = len(self.lut)
        tx = math.atan2(xi, xr)

        def offset(c):
            d = 2 * math.pi * c / n - tx
            return math.pi - (math.pi - d) % (2 * math.pi)

        return max(winners, key=offset)

    # -- complex helpers on (re, im) pairs --------------------------------------------------
    @staticmethod
    def cmul(a, b, conj_a=False):
        ar, ai = a
        if conj_a:
            ai = -ai
        return ar * b[0] - ai * b[1], ar * b[1] + ai * b[0]

    def csum(self, pairs):
        pairs = list(pairs)
        re = sum(p[0] for p in pairs)
        im = sum(p[1] for p in pairs)
        return re, im

    def store_c(self, z, fmt, site, drop):
        return self.store(z[0], fmt, site, drop), self.store(z[1], fmt, site, drop)

    # -- the algorithm ------------------------------------------------------------------------
    @staticmethod
    def F(words, n, m):
        """Entry (n, m) of F: its (cos, sin) words, kept from the table of the layer that chose
        the code (a layer with other phase bits reads them as they are)."""
        return words[n][m]

    def words(self, codes):
        return [[self.lut[c] for c in row] for row in codes]

    def weighted_e(self, h, Fw, W, noise):
        acc, grd = self.spec.accumulator, self.spec.gradient
        N, K, M = len(h), len(h[0]), len(Fw[0])
        G = [[self.store_c(self.csum(self.cmul(h[n][k], self.F(Fw, n, m), conj_a=True) for n in range(N)),
                           acc, "G", self.fH + self.fL - self.fA) for m in range(M)] for k in range(K)]
        E = [[self.store_c(self.csum(self.cmul(G[k][m], W[m][l]) for m in range(M)), acc, "E", self.fW)
              for l in range(K)] for k in range(K)]
        Cm = []
        for k in range(K):
            p = [self.store(E[k][l][0] ** 2 + E[k][l][1] ** 2, acc, "power", self.fA) for l in range(K)]
            a = self.store(noise + sum(p), acc, "power")
            b = self.store(a - p[k], acc, "power")
            one = 2 ** (self.fA + self.fG)
            ra = self.store(_round_div(one, max(a, 1), grd.rounding), grd, "reciprocal")
            rb = self.store(_round_div(one, max(b, 1), grd.rounding), grd, "reciprocal")
            off = self.store(ra - rb, grd, "reciprocal")
            Cm.append([self.store_c((E[k][l][0] * (ra if l == k else off), E[k][l][1] * (ra if l == k else off)),
                                    grd, "C", self.fA) for l in range(K)])
        return G, Cm

    def f_step(self, h, Fw, W, noise, mu):
        grd = self.spec.gradient
        N, K, M = len(h), len(h[0]), len(Fw[0])
        _, Cm = self.weighted_e(h, Fw, W, noise)
        D = [[self.store_c(self.csum(self.cmul(W[m][l], Cm[k][l], conj_a=True) for l in range(K)),
                           grd, "D", self.fW) for m in range(M)] for k in range(K)]
        new = [[0] * M for _ in range(N)]
        for n in range(N):
            for m in range(M):
                g = self.store_c(self.csum(self.cmul(h[n][k], D[k][m]) for k in range(K)), grd, "grad_F", self.fH)
                c, s = self.F(Fw, n, m)
                up = 2 ** (self.fG - self.fL)
                xr = self.store(c * up + self.shift(mu * g[0], self.fS, grd), grd, "F_update")
                xi = self.store(s * up + self.shift(mu * g[1], self.fS, grd), grd, "F_update")
                new[n][m] = self.nearest(xr, xi)
        return new, self.words(new)

    def normalize(self, Fw, Wacc):
        acc, pre, grd = self.spec.accumulator, self.spec.precoder, self.spec.gradient
        N, M, K = len(Fw), len(Fw[0]), len(Wacc[0])
        norm2 = 0
        for n in range(N):
            for l in range(K):
                x = self.store_c(self.csum(self.cmul(self.F(Fw, n, m), Wacc[m][l]) for m in range(M)),
                                 acc, "norm", self.fL)
                norm2 += self.store(x[0] ** 2 + x[1] ** 2, acc, "norm", self.fA)
        norm2 = max(self.store(norm2, acc, "norm"), 1)
        s = self.store(math.isqrt(math.floor(Fraction(N * 2 ** (self.fA + 2 * self.fG), norm2))), grd, "norm")
        return [[self.store_c((Wacc[m][l][0] * s, Wacc[m][l][1] * s), pre, "W", self.fA + self.fG - self.fW)
                 for l in range(K)] for m in range(M)]

    def w_step(self, h, Fw, W, noise, lam):
        acc, grd = self.spec.accumulator, self.spec.gradient
        K, M = len(h[0]), len(Fw[0])
        G, Cm = self.weighted_e(h, Fw, W, noise)
        Wacc = []
        for m in range(M):
            row = []
            for l in range(K):
                gw = self.store_c(self.csum(self.cmul(G[k][m], Cm[k][l], conj_a=True) for k in range(K)),
                                  grd, "grad_W", self.fA)
                up = 2 ** (self.fA - self.fW)
                row.append(tuple(self.store(W[m][l][t] * up + self.shift(lam * gw[t], self.fS + self.fG - self.fA, acc),
                                            acc, "W_update") for t in range(2)))
            Wacc.append(row)
        return self.normalize(Fw, Wacc)

    def inverse(self, A, site="init"):
        """Gauss-Jordan with partial pivoting (largest |pivot|, first on ties) of a real matrix."""
        acc = self.spec.accumulator
        n = len(A)
        a = [row[:] for row in A]
        out = [[2**self.fA if i == j else 0 for j in range(n)] for i in range(n)]
        for col in range(n):
            piv = max(range(col, n), key=lambda r: (abs(a[r][col]), -r))
            a[col], a[piv] = a[piv], a[col]
            out[col], out[piv] = out[piv], out[col]
            p = a[col][col]
            if p == 0:
                self.counts[site] += 1
                continue
            r = self.store(_round_div(2 ** (2 * self.fA), p, acc.rounding), acc, site)
            a[col] = [self.store(v * r, acc, site, self.fA) for v in a[col]]
            out[col] = [self.store(v * r, acc, site, self.fA) for v in out[col]]
            for row in range(n):
                if row != col and a[row][col] != 0:
                    f = a[row][col]
                    a[row] = [self.store(a[row][j] - self.shift(f * a[col][j], self.fA, acc), acc, site)
                              for j in range(n)]
                    out[row] = [self.store(out[row][j] - self.shift(f * out[col][j], self.fA, acc), acc, site)
                                for j in range(n)]
        return out

    def cinverse(self, X, site="init"):
        n = len(X)
        big = [[X[i][j][0] for j in range(n)] + [-X[i][j][1] for j in range(n)] for i in range(n)]
        big += [[X[i][j][1] for j in range(n)] + [X[i][j][0] for j in range(n)] for i in range(n)]
        inv = self.inverse(big, site)
        return [[(inv[i][j], inv[i + n][j]) for j in range(n)] for i in range(n)]

    def init(self, h, M):
        N, K = len(h), len(h[0])
        n_codes = len(self.lut)
        codes = [[self.nearest(*h[n][k]) for k in range(K)] for n in range(N)]
        for n in range(N):
            for m in range(K, M):
                codes[n].append(math.floor(Fraction(-2 * n * (m - K) * n_codes + N, 2 * N)) % n_codes)
        return codes, self.init_w(h, codes)

    def init_w(self, h, codes):
        """``W = (F^H F)^-1 F^H H (H^H H)^-1``, normalised, for the codes of the initial F."""
        acc = self.spec.accumulator
        N, K, M = len(h), len(h[0]), len(codes[0])
        Fw = self.words(codes)
        A = [[self.store_c(self.csum(self.cmul(h[n][i], h[n][j], conj_a=True) for n in range(N)),
                           acc, "init", 2 * self.fH - self.fA) for j in range(K)] for i in range(K)]
        Ai = self.cinverse(A)
        Z = [[self.store_c(self.csum(self.cmul(h[n][j], Ai[j][k]) for j in range(K)), acc, "init", self.fH)
              for k in range(K)] for n in range(N)]
        B = [[self.store_c(self.csum(self.cmul(self.F(Fw, n, i), self.F(Fw, n, j), conj_a=True)
                                     for n in range(N)), acc, "init", 2 * self.fL - self.fA)
              for j in range(M)] for i in range(M)]
        T = [[self.store_c(self.csum(self.cmul(self.F(Fw, n, i), Z[n][k], conj_a=True) for n in range(N)),
                           acc, "init", self.fL) for k in range(K)] for i in range(M)]
        Bi = self.cinverse(B)
        Wacc = [[self.store_c(self.csum(self.cmul(Bi[i][j], T[j][k]) for j in range(M)), acc, "init", self.fA)
                 for k in range(K)] for i in range(M)]
        return self.normalize(Fw, Wacc)


    def output(self, h, Fw, noise, xi, with_gain=False):
        """Output stage: ``W_acc = (G^H G + r F^H F)^-1 G^H`` with ``G = H^H F`` and
        ``r = xi noise``, the matrix scaled by ``2^-2t`` and ``G^H`` by ``2^-t`` (t from the
        bit length of the largest diagonal word), then the normalisation.  ``with_gain``:
        return ``(W, G)``."""
        acc = self.spec.accumulator
        N, K, M = len(h), len(h[0]), len(Fw[0])
        G = [[self.store_c(self.csum(self.cmul(h[n][k], self.F(Fw, n, m), conj_a=True) for n in range(N)),
                           acc, "output", self.fH + self.fL - self.fA) for m in range(M)] for k in range(K)]
        A = [[self.store_c(self.csum(self.cmul(G[k][i], G[k][j], conj_a=True) for k in range(K)),
                           acc, "output", self.fA) for j in range(M)] for i in range(M)]
        B = [[self.store_c(self.csum(self.cmul(self.F(Fw, n, i), self.F(Fw, n, j), conj_a=True) for n in range(N)),
                           acc, "output", 2 * self.fL - self.fA) for j in range(M)] for i in range(M)]
        reg = self.store(xi * noise, acc, "output", self.fS)
        A = [[tuple(self.store(A[i][j][t] + self.shift(reg * B[i][j][t], self.fA, acc), acc, "output")
                    for t in range(2)) for j in range(M)] for i in range(M)]
        d = max(A[i][i][0] for i in range(M))
        t = math.floor(Fraction(d.bit_length() - 1 - self.fA, 2)) if d > 0 else 0
        A = [[self.store_c(A[i][j], acc, "output", 2 * t) for j in range(M)] for i in range(M)]
        Gh = [[self.store_c((G[k][m][0], -G[k][m][1]), acc, "output", t) for k in range(K)] for m in range(M)]
        Ai = self.cinverse(A, "output")
        Wacc = [[self.store_c(self.csum(self.cmul(Ai[i][j], Gh[j][k]) for j in range(M)), acc, "output", self.fA)
                 for k in range(K)] for i in range(M)]
        W = self.normalize(Fw, Wacc)
        return (W, G) if with_gain else W

    # -- code search (kernels/upga/_search.py) ----------------------------------------------
    LOG_INDEX_BITS, LOG_FRAC_BITS = 10, 16

    LOG2_TABLE = np.round(np.log2(1 + np.arange(2**LOG_INDEX_BITS) / 2**LOG_INDEX_BITS)
                          * 2**LOG_FRAC_BITS).astype(int).tolist()

    def log2(self, x):
        """log2 of an int >= 1: exponent from the bit length, table of the truncated mantissa."""
        e = x.bit_length() - 1
        idx = (x * 2**self.LOG_INDEX_BITS >> e) - 2**self.LOG_INDEX_BITS
        return e * 2**self.LOG_FRAC_BITS + self.LOG2_TABLE[idx]

    def score(self, G, W, noise):
        """Sum rate of (F, W) from the output stage's ``G = H^H F``: sum_k log2(a_k) - log2(b_k),
        every store counted at "output"."""
        acc = self.spec.accumulator
        K, M = len(G), len(G[0])
        E = [[self.store_c(self.csum(self.cmul(G[k][m], W[m][l]) for m in range(M)), acc, "output", self.fW)
              for l in range(K)] for k in range(K)]
        total = 0
        for k in range(K):
            p = [self.store(E[k][l][0] ** 2 + E[k][l][1] ** 2, acc, "output", self.fA) for l in range(K)]
            a = self.store(noise + sum(p), acc, "output")
            b = self.store(a - p[k], acc, "output")
            total += self.log2(max(a, 1)) - self.log2(max(b, 1))
        return total

    def evaluate(self, h, Fw, noise, xi):
        """Score of the codes with the output stage's W; all its overflow events count at "output"."""
        saved, self.counts = self.counts, dict.fromkeys(SITES, 0)
        try:
            W, G = self.output(h, Fw, noise, xi, with_gain=True)
            return self.score(G, W, noise)
        finally:
            extra, self.counts = sum(self.counts.values()), saved
            self.counts["output"] += extra

    def search(self, h, codes, Fw, noise, xi, sweeps, span):
        """Coordinate descent over the codes (candidates c+1, c-1, c+2, c-2, ... each once, a
        strictly better score wins), then the output stage on the final codes."""
        n_codes = len(self.lut)
        codes = [list(row) for row in codes]
        Fw = [list(row) for row in Fw]
        best = self.evaluate(h, Fw, noise, xi)
        for _ in range(sweeps):
            changed = False
            for m in range(len(codes[0])):
                for n in range(len(codes)):
                    cur = codes[n][m]
                    cands = []
                    for d in range(1, min(span, n_codes // 2) + 1):
                        for c in ((cur + d) % n_codes, (cur - d) % n_codes):
                            if c != cur and c not in cands:
                                cands.append(c)
                    for c in cands:
                        Fw[n][m] = self.lut[c]
                        sc = self.evaluate(h, Fw, noise, xi)
                        if sc > best:
                            best, codes[n][m] = sc, c
                    Fw[n][m] = self.lut[codes[n][m]]
                    changed |= codes[n][m] != cur
            if not changed:
                break
        return codes, Fw, self.output(h, Fw, noise, xi)


def forward(h, p_t, noise, mu, lam, spec, layer_specs=None, xi=None, search=None):
    """Hardware forward of one channel ``h`` (complex [N, K]) in Python ints.

    Inputs are quantised exactly as the boundary of ``kernels.upga.hardware`` defines: the channel,
    ``noise * N / p_t`` (accumulator), ``mu`` and ``lam_i * (N / p_t)`` (step).  Layer ``i``
    computes with ``layer_specs[i]`` (default ``spec``), the initialisation with layer 0's, and
    W is re-rounded into a layer's precoder format when it differs from the previous layer's.
    With ``xi``, the output stage (in the last layer's formats) replaces W at the end, its
    factor ``xi K / N`` in the step format; with ``search = (sweeps, span)`` too, the code
    search runs first (its evaluations are counted at ``output``).

    Returns ``codes [N][M]``, ``W [M][K]`` of (re, im) words, and the overflow counts per site
    (with ``input`` for the boundary).
    """
    N, K = h.shape
    layers = list(layer_specs) if layer_specs is not None else [spec] * len(lam)
    paths = [Datapath(ls) for ls in layers]
    counts = paths[0].counts
    for dp in paths[1:]:
        dp.counts = counts  # one set of counters for the whole forward
    inputs = 0
    hq = []
    for n in range(N):
        row = []
        for k in range(K):
            (re, o1), (im, o2) = _quantize(h[n, k].real, spec.channel), _quantize(h[n, k].imag, spec.channel)
            inputs += o1 + o2
            row.append((re, im))
        hq.append(row)
    noise_q, o = _quantize(noise * N / p_t, spec.accumulator)
    inputs += o
    mu_q = [[_quantize(v, spec.step) for v in row] for row in np.asarray(mu)]
    lam_q = [_quantize(v * (N / p_t), spec.step) for v in np.asarray(lam)]
    inputs += sum(o for row in mu_q for _, o in row) + sum(o for _, o in lam_q)
    codes, W = paths[0].init(hq, spec.n_rf)
    Fw = paths[0].words(codes)
    for i, dp in enumerate(paths):
        pre, prev = layers[i].precoder, layers[i - 1].precoder if i else None
        if prev is not None and (prev.frac_bits, prev.max_int) != (pre.frac_bits, pre.max_int):
            W = [[dp.store_c(w, pre, "W", prev.frac_bits - pre.frac_bits) for w in row] for row in W]
        for j in range(len(mu_q[i])):
            codes, Fw = dp.f_step(hq, Fw, W, noise_q, mu_q[i][j][0])
        W = dp.w_step(hq, Fw, W, noise_q, lam_q[i][0])
    if xi is not None:
        xi_q, o = _quantize(xi * spec.n_users / spec.n_antennas, spec.step)
        inputs += o
        if search is None:
            W = paths[-1].output(hq, Fw, noise_q, xi_q)
        else:
            codes, Fw, W = paths[-1].search(hq, codes, Fw, noise_q, xi_q, *search)
    return codes, W, {"input": inputs, **counts}
