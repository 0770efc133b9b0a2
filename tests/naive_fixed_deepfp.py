"""Slow reference of DeepFP's hardware mode (tests only), written from the contract in
``kernels/deepfp/_int.py`` and ``kernels/deepfp/hardware.py``, not from their code.

The step DNNs run in Python ints, scales and multipliers are exact ``Fraction``s; the FP state
comes from the numpy solvers' :func:`hbf_edge.families.deepfp.wsr.fp_quantities` (float64, batched numpy, a
different summation order from the kernel's loops).
"""

import math
from fractions import Fraction

import numpy as np

from hbf_edge.families.deepfp.wsr import fp_quantities, power_scale


def _round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


class IntStepDnn:
    """One layer's DNN: int weights, exact scales, the requantization of every dense layer."""

    def __init__(self, arrays, prefix, bits, r_in, r_hidden, r_out):
        self.bits = bits
        self.lo, self.hi, self.umax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, 2 ** bits - 1
        self.s_in = Fraction(float(np.float32(r_in))) / 2 ** (bits - 1)
        self.s_out = Fraction(float(np.float32(r_out))) / 2 ** (bits - 1)
        s_hidden = [Fraction(float(np.float32(r))) / (2 ** bits - 1) for r in r_hidden]
        self.dense = []
        s_x = self.s_in
        n = len(r_hidden) + 1
        for j in range(n):
            p = f"{prefix}layers.{j}."
            parts = []
            for name in ("w_re", "w_im"):
                w = arrays[p + name]
                peak = Fraction(float(np.abs(w).max()))
                e = 0
                while Fraction(2) ** e * 2 ** (bits - 1) < peak:  # smallest e with peak <= 2^e 2^(b-1)
                    e += 1
                while Fraction(2) ** (e - 1) * 2 ** (bits - 1) >= peak:
                    e -= 1
                q = [[max(-self.hi, min(self.hi, round(Fraction(float(v)) / Fraction(2) ** e))) for v in row]
                     for row in w]  # round(): half to even
                parts.append((q, e))
            e0 = min(parts[0][1], parts[1][1])
            s_acc = Fraction(2) ** e0 * s_x
            b_re = [round(Fraction(float(v)) / s_acc) for v in arrays[p + "b_re"]]
            b_im = [round(Fraction(float(v)) / s_acc) for v in arrays.get(p + "b_im", np.zeros(len(b_re)))]
            s_next = s_hidden[j] if j < n - 1 else self.s_out
            ratio = s_acc / s_next
            k = 0
            while ratio * 2 ** k < 2 ** 30:
                k += 1
            while ratio * 2 ** k >= 2 ** 31:
                k -= 1
            m = _round_half_up(ratio * 2 ** k)
            if m == 2 ** 31:
                m, k = 2 ** 30, k - 1
            self.dense.append((parts[0][0], parts[1][0], parts[0][1] - e0, parts[1][1] - e0, b_re, b_im, m, k))
            s_x = s_next

    def __call__(self, xr, xi, counts):
        n = len(self.dense)
        for j, (wr, wi, ar, ai, b_re, b_im, m, k) in enumerate(self.dense):
            yr, yi = [], []
            for o in range(1 if j == n - 1 else len(wr)):
                acc_r = (sum(a * b for a, b in zip(wr[o], xr)) << ar) - (sum(a * b for a, b in zip(wi[o], xi)) << ai)
                acc_i = (sum(a * b for a, b in zip(wr[o], xi)) << ar) + (sum(a * b for a, b in zip(wi[o], xr)) << ai)
                yr.append(_round_half_up(Fraction((acc_r + b_re[o]) * m, 2 ** k)))
                yi.append(_round_half_up(Fraction((acc_i + b_im[o]) * m, 2 ** k)))
            if j == n - 1:
                y = yr[0]
                if not self.lo <= y <= self.hi:
                    counts["output"] += 1
                return max(self.lo, min(self.hi, y))
            counts["hidden"] += sum(v > self.umax for v in yr + yi)
            xr = [max(0, min(self.umax, v)) for v in yr]
            xi = [max(0, min(self.umax, v)) for v in yi]
        raise AssertionError("unreachable")

    def quantize(self, x, counts):
        q = np.rint(x / float(self.s_in))
        counts["input"] += int(np.sum((q < self.lo) | (q > self.hi)))
        return [int(v) for v in np.clip(q, self.lo, self.hi)]


def dnns(model_arrays, quantization, n_layers):
    return [IntStepDnn(model_arrays, f"steps.{i}.", quantization["bits"], r["input"], r["hidden"], r["output"])
            for i, r in enumerate(quantization["ranges"][:n_layers])]


def forward(H, V0, model_arrays, quantization, n_layers, step_base="frobenius"):
    """The hardware forward on complex ``H [B, L, K, L, N_r, N_t]``, ``V0 [B, L, K, N_t, d]``
    (sizes equal to the network's; no padding): ``(V codes, step codes [B, I, L, K], counts)``.
    The base step is ``1 / ||L_l||_F``, or with ``step_base="exact"`` ``||G||^2 / Re tr(G^H L G)``."""
    nets = dnns(model_arrays, quantization, n_layers)
    v_bits = quantization["v_bits"]
    counts = dict.fromkeys(("input", "hidden", "output", "v"), 0)
    B, L, K = H.shape[:3]
    V = V0.copy()
    codes = np.zeros((B, n_layers, L, K), np.int64)
    w = np.ones((L, K))
    for i, net in enumerate(nets):
        _, _, Lam, Lm = fp_quantities(H, V, w)
        G = Lam - Lm[:, :, None] @ V
        fro = np.sqrt(np.sum(np.abs(Lm) ** 2, axis=(-2, -1)))  # [B, L]
        if step_base == "exact":
            num = np.sum(np.abs(G) ** 2, axis=(-2, -1))
            den = np.real(np.einsum("blknd,blnm,blkmd->blk", G.conj(), Lm, G))
        else:
            num, den = np.ones((B, L, K)), np.repeat(fro[:, :, None], K, axis=2)
        step = np.zeros((B, L, K))
        for b in range(B):
            for l in range(L):
                for k in range(K):
                    x = np.concatenate([V[b, l, k].reshape(-1), G[b, l, k].reshape(-1) / fro[b, l]])
                    c = net(net.quantize(x.real, counts), net.quantize(x.imag, counts), counts)
                    codes[b, i, l, k] = c
                    step[b, l, k] = math.exp(min(10.0, max(-10.0, c * float(net.s_out)))) * num[b, l, k] / den[b, l, k]
        V = power_scale(V + step[..., None, None] * G, np.ones(L))
        q = np.rint(V * 2 ** (v_bits - 1))
        lim = 2 ** (v_bits - 1)
        for part in (q.real, q.imag):
            counts["v"] += int(np.sum((part < -lim) | (part > lim - 1)))
        q = np.clip(q.real, -lim, lim - 1) + 1j * np.clip(q.imag, -lim, lim - 1)
        V = q / 2 ** (v_bits - 1)
    return q, codes, counts
