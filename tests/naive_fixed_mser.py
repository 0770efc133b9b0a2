"""Pure-Python integer reference of MSER's hardware datapath (tests only).

Written from the contract in ``kernels/mser/_fixed.py``'s docstring, not from the kernel:
Python ints (no overflow, so an int64 overflow in the kernel shows up as a mismatch), complex
values as ``(re, im)`` tuples in nested lists, exact rounding in integers
(``naive_fixed._round_div``) and ``math.isqrt``.  Slow: use small sizes.
"""

import math
from fractions import Fraction

from naive_fixed import _fit, _round_div

SITES = ("input", "forward", "weights", "gradient", "step", "precoder", "combiner", "norm")
TABLE_BITS, U_MAX, RAD_FRAC = 5, 12, 16


class Datapath:
    def __init__(self, formats, words, q_bs, q_ue, refit, qam=False):
        self.f, self.w = formats, words
        self.acc = formats.accumulator
        self.fA, self.fL, self.fC = self.acc.frac_bits, formats.lut.frac_bits, formats.channel.frac_bits
        self.fS, self.fK = formats.step.frac_bits, formats.kernel.frac_bits
        self.fV, self.fW = formats.precoder.frac_bits, formats.combiner.frac_bits
        self.b, self.qi, self.q_bs, self.q_ue = formats.angle_bits, formats.internal_phase_bits, q_bs, q_ue
        self.refit, self.qam = refit, qam
        self.counts = dict.fromkeys(SITES, 0)

    # -- arithmetic ----------------------------------------------------------------------
    @staticmethod
    def rnd(x, s, mode):
        return _round_div(x, 2**s, mode) if s > 0 else x * 2 ** (-s)

    def fit(self, q, site, fmt=None):
        q, over = _fit(q, fmt or self.acc)
        self.counts[site] += over
        return q

    def rq(self, x, s, site, fmt=None):
        fmt = fmt or self.acc
        return self.fit(self.rnd(x, s, fmt.rounding), site, fmt)

    def code(self, theta, q):
        return math.floor(Fraction(theta, 2 ** (self.b - q)) + Fraction(1, 2)) % 2**q

    def wrap(self, x):
        return (x + 2 ** (self.b - 1)) % 2**self.b - 2 ** (self.b - 1)

    def phase(self, theta):
        i = self.code(theta, self.qi)
        return (int(self.w["lc"][i]), int(self.w["ls"][i]))

    # -- complex matrices as lists of lists of (re, im) ------------------------------------
    @staticmethod
    def cmul(a, b):
        return (a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0])

    @staticmethod
    def conj(a):
        return (a[0], -a[1])

    def prod(self, A, B, shift, site, neg=False):
        """requant of ``(+-) A B`` (nested lists)."""
        out = []
        for row in A:
            o = []
            for j in range(len(B[0])):
                re = sum(self.cmul(row[r], B[r][j])[0] for r in range(len(B)))
                im = sum(self.cmul(row[r], B[r][j])[1] for r in range(len(B)))
                if neg:
                    re, im = -re, -im
                o.append((self.rq(re, shift, site), self.rq(im, shift, site)))
            out.append(o)
        return out

    def H(self, A):  # conjugate transpose
        return [[self.conj(A[i][j]) for i in range(len(A))] for j in range(len(A[0]))]

    # -- the Gaussian weights and M ----------------------------------------------------------
    def gauss(self, y, s):
        z = self.rnd(y * s, self.fS, self.acc.rounding)
        if abs(z) >= 2**31:
            return 0
        u = self.rnd(z * z, self.fA, self.acc.rounding)
        sh = self.fA - TABLE_BITS
        i = u // 2**sh
        if i >= U_MAX * 2**TABLE_BITS:
            return 0
        t = self.w["ktab"]
        return int(t[i]) + self.rnd((int(t[i + 1]) - int(t[i])) * (u - i * 2**sh), sh, self.f.kernel.rounding)

    def div(self, num, den):
        return _round_div(num, den, self.acc.rounding)

    def weights_qam(self, Y, E, S, k, s, c):
        """16-QAM's ``M`` [D_k][D] of user k's outputs ``Y [D_k][J]`` and ``E_k [D_k][D]``."""
        Dk, D, J = len(Y), len(S), len(S[0])
        mode = self.acc.rounding
        M = []
        for i in range(Dk):
            g = k * Dk + i
            cr, ci = E[i][g]
            mag = math.isqrt(self.rq(cr * cr + ci * ci, self.fA, "weights") * 2**self.fA)
            if mag == 0:
                M.append([(0, 0)] * D)
                continue
            q = tuple(self.fit(self.div(x * 2**self.fA, mag), "weights") for x in (cr, ci))
            t, own_r, num_i = [], 0, 0
            for j in range(J):
                u = self.cmul(Y[i][j], self.conj(q))
                u = (self.rnd(u[0], self.fA, mode), self.rnd(u[1], self.fA, mode))
                b = (S[g][j][0] - 1, S[g][j][1] - 1)
                w = (self.gauss(u[0] - mag * b[0], s), self.gauss(u[1] - mag * b[1], s))
                t.append(w)
                own_r -= w[0] * b[0] + w[1] * b[1]
                num_i += w[0] * u[1] - w[1] * u[0]
            own = (own_r, self.div(num_i, mag))
            row = []
            for d in range(D):
                p = [sum(self.cmul(t[j], self.conj(S[d][j]))[e] for j in range(J)) for e in (0, 1)]
                if d == g:
                    p = [p[0] + own[0], p[1] + own[1]]
                x = self.cmul(q, p)
                x = (self.rnd(x[0], self.fA, mode), self.rnd(x[1], self.fA, mode))
                sh = self.fS + self.fK - self.fA + 1
                row.append((self.rq(3 * c * x[0], sh, "weights"), self.rq(3 * c * x[1], sh, "weights")))
            M.append(row)
        return M

    def weights(self, Y, E, S, k, s, c):
        """``M = c Beta S^H`` [D_k][D] of user k's outputs ``Y [D_k][J]`` (16-QAM's form with
        ``qam``, from ``E_k`` too)."""
        if self.qam:
            return self.weights_qam(Y, E, S, k, s, c)
        Dk, D, J = len(Y), len(S), len(S[0])
        beta = [[(self.gauss(Y[i][j][0], s) * S[k * Dk + i][j][0], self.gauss(Y[i][j][1], s) * S[k * Dk + i][j][1])
                 for j in range(J)] for i in range(Dk)]
        sh = self.fS + self.fK - self.fA
        M = []
        for i in range(Dk):
            row = []
            for d in range(D):
                pr = sum(beta[i][j][0] * S[d][j][0] + beta[i][j][1] * S[d][j][1] for j in range(J))
                pi = sum(beta[i][j][1] * S[d][j][0] - beta[i][j][0] * S[d][j][1] for j in range(J))
                row.append((self.rq(c * pr, sh, "weights"), self.rq(c * pi, sh, "weights")))
            M.append(row)
        return M

    def outputs(self, E, S):
        Y = []
        for row in E:
            Y.append([(self.fit(sum(self.cmul(row[d], S[d][j])[0] for d in range(len(S))), "forward"),
                       self.fit(sum(self.cmul(row[d], S[d][j])[1] for d in range(len(S))), "forward"))
                      for j in range(len(S[0]))])
        return Y

    # -- steps and normalisations -------------------------------------------------------------
    def step(self, a, x, g):
        t = self.rq(a * x, self.fS, "step")
        return self.rq(g * t, self.fS, "step")

    def cstep(self, a, x, g):
        t = self.cmul(a, x)
        t = (self.rq(t[0], self.fS, "step"), self.rq(t[1], self.fS, "step"))
        return (self.rq(g * t[0], self.fS, "step"), self.rq(g * t[1], self.fS, "step"))

    def normalise(self, Uph, W):
        """``Uph [R_r][N_r]`` (lut words), ``W [R_r][D_k]`` in place."""
        Rr, Nr, Dk = len(Uph), len(Uph[0]), len(W[0])
        sh = self.fL + self.fW - self.fA
        for i in range(Dk):
            s = 0
            for n in range(Nr):
                p = [0, 0]
                for r in range(Rr):
                    t = self.cmul(self.conj(Uph[r][n]), W[r][i])
                    p[0] += t[0]
                    p[1] += t[1]
                pr, pi = self.rq(p[0], sh, "norm"), self.rq(p[1], sh, "norm")
                s += pr * pr + pi * pi
            s = self.rq(s, self.fA, "norm")
            q = math.isqrt(s * 2**self.fA) if s > 0 else 0
            if q == 0:
                self.counts["norm"] += 1
                continue
            inv = self.fit(_round_div(2 ** (2 * self.fA), q, self.acc.rounding), "norm")
            for r in range(Rr):
                W[r][i] = tuple(self.rq(W[r][i][j] * inv, self.fA, "combiner", self.f.combiner) for j in (0, 1))

    def phase_step(self, theta, X, G, a, off, g):
        rad = self.w["rad"]
        for p in range(len(theta)):
            for q in range(len(theta[0])):
                d = self.rq(X[p][q][0] * G[p][q][1] - X[p][q][1] * G[p][q][0], self.fL, "gradient")
                t = self.step(int(a[p][q]), d, g)
                delta = self.rnd(t * rad, self.fA + RAD_FRAC, self.acc.rounding)
                theta[p][q] = self.wrap(theta[p][q] - delta + int(off[p][q]))


def scale(dp, Fp, V):
    """(26) on ``F`` (lut words): ``V`` rescaled to the power word."""
    fA, w = dp.fA, dp.w
    A = dp.prod(Fp, V, dp.fL + dp.fV - fA, "forward")
    s = dp.rq(sum(a[0] ** 2 + a[1] ** 2 for row in A for a in row), fA, "norm")
    if s == 0:
        dp.counts["norm"] += 1
        return V
    ratio = dp.fit(_round_div(int(w["power"]) * 2**fA, s, dp.acc.rounding), "norm")
    sc = math.isqrt(ratio * 2**fA)
    return [[tuple(dp.rq(v[j] * sc, fA, "precoder", dp.f.precoder) for j in (0, 1)) for v in row] for row in V]


def channel(dp, Hn, tf, V, tu, W, g):
    """Every layer of one channel.  ``Hn [K][N_r][N_t]`` channel words (re, im), ``tf [N_t][R_t]``
    and ``tu [K][R_r][N_r]`` angle words, ``V [R_t][D]``, ``W [K][R_r][D_k]`` words (re, im), ``g``
    the step-factor word.  Returns ``(F codes, V, U codes, W, theta_F, theta_U, counts)``."""
    w = dp.w
    K, Nt = len(Hn), len(Hn[0][0])
    Rt, D = len(V), len(V[0])
    Rr, Dk = len(W[0]), len(W[0][0])
    L = w["sym_r"].shape[0]
    fA, fL, fV, fW, fC = dp.fA, dp.fL, dp.fV, dp.fW, dp.fC
    tf = [list(r) for r in tf]
    tu = [[list(r) for r in u] for u in tu]
    V = [list(r) for r in V]
    W = [[list(r) for r in wk] for wk in W]

    def ph(theta):
        return [[dp.phase(t) for t in row] for row in theta]

    Fp = ph(tf)
    Up = [ph(tu[k]) for k in range(K)]
    UH = [dp.prod(Up[k], Hn[k], fL + fC - fA, "forward") for k in range(K)]
    for it in range(L + dp.refit):
        layer = min(it, L - 1)
        S = [[(int(w["sym_r"][layer, d, j]), int(w["sym_i"][layer, d, j])) for j in range(w["sym_r"].shape[2])]
             for d in range(D)]
        # (27)
        A = dp.prod(Fp, V, fL + fV - fA, "forward")
        G = [dp.prod(UH[k], A, fA, "forward") for k in range(K)]
        E = [dp.prod(dp.H(W[k]), G[k], fW, "forward") for k in range(K)]
        Bk = [dp.prod(dp.H(UH[k]), W[k], fW, "forward") for k in range(K)]
        Y = [dp.outputs(E[k], S) for k in range(K)]
        Z = [[None] * D for _ in range(Nt)]
        for k in range(K):
            Ms = [dp.weights(Y[kk], E[kk], S, kk, int(w["ws"][layer, 0, k]), int(w["wc"][layer, 0, k]))
                  for kk in range(K)]
            for n in range(Nt):
                for d in range(k * Dk, (k + 1) * Dk):
                    re = im = 0
                    for kk in range(K):
                        for i in range(Dk):
                            t = dp.cmul(Bk[kk][n][i], Ms[kk][i][d])
                            re, im = re + t[0], im + t[1]
                    Z[n][d] = (dp.rq(re, fA, "gradient"), dp.rq(im, fA, "gradient"))
        gV = dp.prod(dp.H(Fp), Z, fL, "gradient", neg=True)
        for r in range(Rt):
            for d in range(D):
                t = dp.cstep((int(w["ap_r"][layer, r, d]), int(w["ap_i"][layer, r, d])), gV[r][d], g)
                off = (int(w["op_r"][layer, r, d]), int(w["op_i"][layer, r, d]))
                V[r][d] = tuple(dp.fit(V[r][d][j] - dp.rnd(t[j], fA - fV, dp.f.precoder.rounding) + off[j], "precoder",
                                       dp.f.precoder) for j in (0, 1))
        # (28)
        A = dp.prod(Fp, V, fL + fV - fA, "forward")
        for k in range(K):
            G[k] = dp.prod(UH[k], A, fA, "forward")
            E[k] = dp.prod(dp.H(W[k]), G[k], fW, "forward")
            M = dp.weights(dp.outputs(E[k], S), E[k], S, k, int(w["ws"][layer, 1, k]), int(w["wc"][layer, 1, k]))
            gW = dp.prod(G[k], dp.H(M), fA, "gradient")
            for r in range(Rr):
                for i in range(Dk):
                    t = dp.cstep((int(w["aw_r"][layer, k, r, i]), int(w["aw_i"][layer, k, r, i])), gW[r][i], g)
                    off = (int(w["ow_r"][layer, k, r, i]), int(w["ow_i"][layer, k, r, i]))
                    W[k][r][i] = tuple(dp.fit(W[k][r][i][j] + dp.rnd(t[j], fA - fW, dp.f.combiner.rounding) + off[j],
                                              "combiner", dp.f.combiner) for j in (0, 1))
            dp.normalise(Up[k], W[k])
        if it >= L:
            V = scale(dp, Fp, V)
            continue
        # (29)
        for k in range(K):
            E[k] = dp.prod(dp.H(W[k]), G[k], fW, "forward")
            M = dp.weights(dp.outputs(E[k], S), E[k], S, k, int(w["ws"][layer, 2, k]), int(w["wc"][layer, 2, k]))
            T1 = dp.prod(M, dp.H(A), fA, "gradient")
            T2 = dp.prod(T1, dp.H(Hn[k]), fC, "gradient")
            gU = dp.prod(W[k], T2, fW, "gradient", neg=True)
            dp.phase_step(tu[k], Up[k], gU, w["au"][layer, k], w["ou"][layer, k], g)
            Up[k] = ph(tu[k])
            dp.normalise(Up[k], W[k])
            UH[k] = dp.prod(Up[k], Hn[k], fL + fC - fA, "forward")
        # (30)
        Ms, Bk = [], []
        for k in range(K):
            G[k] = dp.prod(UH[k], A, fA, "forward")
            E[k] = dp.prod(dp.H(W[k]), G[k], fW, "forward")
            Bk.append(dp.prod(dp.H(UH[k]), W[k], fW, "forward"))
            Ms.append(dp.weights(dp.outputs(E[k], S), E[k], S, k, int(w["wsf"][layer]), int(w["wcf"][layer])))
        for n in range(Nt):
            for d in range(D):
                re = im = 0
                for k in range(K):
                    for i in range(Dk):
                        t = dp.cmul(Bk[k][n][i], Ms[k][i][d])
                        re, im = re + t[0], im + t[1]
                Z[n][d] = (dp.rq(re, fA, "gradient"), dp.rq(im, fA, "gradient"))
        gF = dp.prod(Z, dp.H(V), fV, "gradient", neg=True)
        dp.phase_step(tf, Fp, gF, w["af"][layer], w["of_"][layer], g)
        Fp = ph(tf)
        V = scale(dp, Fp, V)
        if it == L - 1:
            codes_f = [[dp.code(t, dp.q_bs) for t in row] for row in tf]
            codes_u = [[[dp.code(t, dp.q_ue) for t in row] for row in tu[k]] for k in range(K)]
            Fp = [[(int(w["oc"][c]), int(w["os_"][c])) for c in row] for row in codes_f]
            Up = [[[(int(w["uc"][c]), int(w["us_"][c])) for c in row] for row in codes_u[k]] for k in range(K)]
            UH = [dp.prod(Up[k], Hn[k], fL + fC - fA, "forward") for k in range(K)]
            V = scale(dp, Fp, V)
    return codes_f, V, codes_u, W, tf, tu, dict(dp.counts)
