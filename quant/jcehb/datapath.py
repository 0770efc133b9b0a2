"""A torch model of JCEHB's per-slot integer datapath, bit-exact: :class:`JcehbSlotInt`.

:mod:`kernels.jcehb._fixed` (CEDUN's (17d) per pilot, HBDUN's (31a)-(31d) per layer, the MMSE
combiners of (24)) written in int64 torch operations, operation for operation: the same words,
the same roundings (``rshift`` and ``div_round`` as exact divisions by powers of two and by the
divisor, with the format's rule), the same saturation or wrap of every stored value (without
the kernel's counters), Gauss-Jordan through the real embedding with the kernel's pivoting,
``isqrt`` by a float estimate corrected exactly, ``2^t`` by the kernel's 256-entry table, from
the primitives of :mod:`quant._core.datapath`.  It equals the integer kernel word for word
(tests, with saturating and wrapping formats); it is the quant stage's ``torch_forward_hw`` and
what :mod:`export.jcehb.onnx_int` traces into ``model.int.onnx``.  Masks and sums, never
``torch.diagonal`` or in-place indexing, so that the trace has no control flow.

Built with ``words`` (:func:`quant.jcehb.words.twin_words`), the constants are
:class:`~quant._core.twin.Twin` words and so is every value: the same int64 words, with a float
twin that carries the gradient straight through each rounding (QAT of the digital words,
``hbf-edge quantize --qat-loss words``); :meth:`JcehbSlotInt.slot` returns them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from hbf_edge.families.jcehb.formats import EXP2_TABLE_BITS, JCEHB_FORMATS, T_RANGE
from hbf_edge.quant._core.datapath import Words
from hbf_edge.quant._core.twin import div_round, fit_word, follow, gj_inverse_words, ints, isqrt, rshift

__all__ = ["JcehbSlotInt", "slot_words"]


class JcehbSlotInt(nn.Module):
    """The per-slot integer datapath of a :class:`kernels.jcehb.hardware.JcehbHw` as a torch
    module on int64 words (module notes); ``forward(y_re, y_im, nu) -> f_re, f_im, w_re, w_im``."""

    def __init__(self, hw: Any, words: dict[str, Any] | None = None) -> None:
        super().__init__()
        Nt, N, Nr, R, K, S = hw.model.sizes
        self.N, self.R, self.K, self.S = N, R, K, S
        self.exact = bool(hw.model.exact)
        f = hw.formats
        self.f = {name: getattr(f, name) for name in JCEHB_FORMATS}
        self.acc = f.accumulator
        self.fA, self.fC, self.mode = f.accumulator.frac_bits, f.coef.frac_bits, f.accumulator.rounding
        w = hw.words
        for name in ("xr", "xi", "vgr", "vgi", "gfr", "gfi", "hb", "hbw", "hbf", "hbs", "table", "ce"):
            if words is not None and name in words:  # Twin words: plain attributes, not buffers
                setattr(self, name, words[name])
                continue
            value = w[name][12:16, ..., :R] if name == "ce" else w[name]  # ce: T_w, q_w
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(value, dtype=np.int64)))
        self.lam_floor = int(w["lam_floor"])
        self.L = int(w["xr"].shape[1])
        self.Lh = int(w["hb"].shape[1])

    # -- the kernel's primitives ---------------------------------------------------------
    def _fit(self, x: torch.Tensor, fmt: Any = None) -> torch.Tensor:
        return fit_word(x, fmt or self.acc)

    def _rs(self, x: torch.Tensor, s: int | torch.Tensor) -> torch.Tensor:
        return rshift(x, s, self.mode)

    def _rq(self, x: torch.Tensor, s: int) -> torch.Tensor:
        return self._fit(self._rs(x, s))

    def _tq(self, T: tuple[torch.Tensor, ...], x: Words) -> Words:
        """``T x + q`` (``T = (t_re, t_im, q_re, q_im)``, coef multiplier, ``A`` offset)."""
        tr, ti, qr, qi = T
        return Words(self._fit(self._rs(tr * x.re - ti * x.im, self.fC) + qr),
                      self._fit(self._rs(tr * x.im + ti * x.re, self.fC) + qi))

    def _exp2(self, t: Any) -> Any:
        """``2^t`` for ``A`` words ``t``: integer part a shift, fraction the table (floor); a
        Twin's gradient is that of ``2^(t 2^-fA)`` in ``A`` units."""
        fA, tw = self.fA, ints(t)
        ti = torch.div(tw, 1 << fA, rounding_mode="floor")
        j = torch.div(tw - ti * (1 << fA), 1 << (fA - EXP2_TABLE_BITS), rounding_mode="floor")
        word = self._fit(self._rs(self.table[j], -ti))
        return follow(word, t, lambda f: torch.exp2(f * math.ldexp(1.0, -fA)) * math.ldexp(1.0, fA))

    def _matmul(self, a: Words, b: Words) -> Words:
        """``A B`` (``[..., P, R] x [..., R, Q]``), every entry's exact sum rounded once."""
        ar, ai, br, bi = a.re[..., :, :, None], a.im[..., :, :, None], b.re[..., None, :, :], b.im[..., None, :, :]
        return Words(self._rq((ar * br - ai * bi).sum(-2), self.fA), self._rq((ar * bi + ai * br).sum(-2), self.fA))

    def _cinv(self, x: Words) -> Words:
        """Complex inverse of ``x [B', n, n]`` through the real embedding ``[[Xr, -Xi], [Xi, Xr]]``."""
        n = x.re.shape[-1]
        big = torch.cat([torch.cat([x.re, -x.im], -1), torch.cat([x.im, x.re], -1)], -2)
        inv = gj_inverse_words(big, self.acc)
        return Words(inv[:, :n, :n], inv[:, n:, :n])

    # -- CEDUN ---------------------------------------------------------------------------
    def cedun(self, y: Words) -> Words:
        """(17d) and step 7 per pilot: ``Y [B, K, R, L]`` (received) -> ``H_hat [B, K, R, N]`` (heq)."""
        fA, fX = self.fA, self.f["pilot"].frac_bits
        s_y = self.f["received"].frac_bits - fA
        B = y.re.shape[0]
        W = Words(torch.zeros(B, self.K, self.N, self.R, dtype=torch.int64),
                   torch.zeros(B, self.K, self.N, self.R, dtype=torch.int64))
        for n in range(self.L):
            xr, xi = self.xr[:, n, None], self.xi[:, n, None]  # [N, 1]
            sr = (W.re * xr + W.im * xi).sum(-2)  # e = y - W^H x, [B, K, R]
            si = (W.re * xi - W.im * xr).sum(-2)
            er = self._fit(self._rs(y.re[..., n], s_y) - self._rs(sr, fX))[:, :, None, :]
            ei = self._fit(self._rs(y.im[..., n], s_y) - self._rs(si, fX))[:, :, None, :]
            vr, vi = self.vgr[n][..., None], self.vgi[n][..., None]  # [K, N, 1]
            upd = Words(self._fit(W.re + self._rs(vr * er + vi * ei, fA)),
                         self._fit(W.im + self._rs(vi * er - vr * ei, fA)))
            W = self._tq(tuple(self.ce[j, n] for j in range(4)), upd)  # (17d)
        heq = self.f["heq"]
        s = fA - heq.frac_bits
        return Words(self._fit(rshift(W.re, s, heq.rounding), heq).transpose(-1, -2),
                      self._fit(rshift(-W.im, s, heq.rounding), heq).transpose(-1, -2))

    # -- HBDUN ---------------------------------------------------------------------------
    def _normalise(self, F: Words) -> Words:
        """Every user's block of ``F [B, N, K S]`` to ``f^H G_F f = S`` (scale ``isqrt(S 2^(3 fA) / p)``;
        a block with ``p <= 0`` is left as it is)."""
        B, K, S, fA = F.re.shape[0], self.K, self.S, self.fA
        T = self._matmul(Words(self.gfr, self.gfi), F)
        p = (F.re * T.re + F.im * T.im).sum(-2).reshape(B, K, S).sum(-1)
        p = self._rq(p, fA)
        ok = p > 0
        scale = self._fit(isqrt(torch.div(torch.full_like(p, S << (3 * fA)), torch.where(ok, p, torch.ones_like(p)),
                                          rounding_mode="floor")))
        scale = scale[:, :, None].expand(B, K, S).reshape(B, 1, K * S)
        ok = ok[:, :, None].expand(B, K, S).reshape(B, 1, K * S)
        return Words(torch.where(ok, self._rq(F.re * scale, fA), F.re), torch.where(ok, self._rq(F.im * scale, fA), F.im))

    def _mmse(self, H: Words, F: Words, nu: torch.Tensor) -> tuple[Words, Words]:
        """Eq. (24) for every user: ``W_k = (A_k A_k^H + nu I)^-1 A_k[:, user k]`` ``[B, K, R, S]``,
        and ``A = H_k F`` ``[B, K, R, K S]``."""
        B, K, R, S, fA = H.re.shape[0], self.K, self.R, self.S, self.fA
        A = self._matmul(H, Words(F.re[:, None], F.im[:, None]))
        pr, pi = A.re[:, :, :, None, :], A.im[:, :, :, None, :]  # row p of C
        qr, qi = A.re[:, :, None, :, :], A.im[:, :, None, :, :]  # row q
        cr = (pr * qr + pi * qi).sum(-1)
        ci = (pi * qr - pr * qi).sum(-1)
        eye = torch.eye(R, dtype=torch.int64)
        Cm = Words(self._fit(self._rs(cr, fA) + nu[:, None, None, None] * eye), self._rq(ci, fA))
        V = self._cinv(Words(Cm.re.reshape(B * K, R, R), Cm.im.reshape(B * K, R, R)))
        V = Words(V.re.reshape(B, K, R, R), V.im.reshape(B, K, R, R))
        own = Words(torch.stack([A.re[:, k, :, k * S:(k + 1) * S] for k in range(K)], 1),
                     torch.stack([A.im[:, k, :, k * S:(k + 1) * S] for k in range(K)], 1))
        return self._matmul(V, own), A

    def hbdun(self, Hq: Words, nu: torch.Tensor) -> tuple[Words, Words]:
        """HBDUN: ``H_hat [B, K, R, N]`` (heq) -> ``F_BB [B, N, K S]`` (precoder), ``W_BB
        [B, K, R, S]`` (combiner)."""
        B, K, S, fA, fC = Hq.re.shape[0], self.K, self.S, self.fA, self.fC
        s_h = self.f["heq"].frac_bits - fA
        H = Words(self._rs(Hq.re, s_h), self._rs(Hq.im, s_h))  # [B, K, R, N]
        F = self._normalise(Words(H.re[:, :, :S, :].reshape(B, K * S, self.N).transpose(1, 2),
                                   -H.im[:, :, :S, :].reshape(B, K * S, self.N).transpose(1, 2)))  # matched filter
        t = torch.zeros(B, K, S, dtype=torch.int64)
        for i in range(self.Lh):
            Mw, _ = self._mmse(H, F, nu)
            W = self._tq(tuple(self.hbw[j, i] for j in range(4)), Mw)  # (31a)
            lam = torch.clamp(self._fit(self._rs(self.hbs[0, i][:, None] * self._exp2(t), fC)
                                        + self.hbs[1, i][:, None]), min=self.lam_floor)  # (31b), [B, K, S]
            w2 = (W.re * W.re + W.im * W.im).sum(-2)  # [B, K, S]
            F = self._precoder_step(i, H, W, lam, w2, nu)
            t = self._dual_step(i, H, F, W, w2, t, nu)
        Wf, _ = self._mmse(H, F, nu)
        pre, cmb = self.f["precoder"], self.f["combiner"]
        out = [fit_word(rshift(v, fA - pre.frac_bits, pre.rounding), pre) for v in (F.re, F.im)]
        out += [fit_word(rshift(v, fA - cmb.frac_bits, cmb.rounding), cmb) for v in (Wf.re, Wf.im)]
        return Words(out[0], out[1]), Words(out[2], out[3])

    def _precoder_step(self, i: int, H: Words, W: Words, lam: torch.Tensor, w2: torch.Tensor,
                       nu: torch.Tensor) -> Words:
        """Layer ``i``'s (31c) and the power normalisation: ``C = sum lam h h^H + tau I`` with
        ``h = H_k^H w_ks``, its inverse (exact, or the approximation (29)-(30)), ``F_BB``."""
        B, N, K, S, fA, fC = H.re.shape[0], self.N, self.K, self.S, self.fA, self.fC
        hr = self._rq((H.re[..., None] * W.re[:, :, :, None, :] + H.im[..., None] * W.im[:, :, :, None, :]).sum(2), fA)
        hi = self._rq((H.re[..., None] * W.im[:, :, :, None, :] - H.im[..., None] * W.re[:, :, :, None, :]).sum(2), fA)
        hw = Words(hr, hi)  # [B, K, N, S]
        tau = self._rs(lam * self._rq(w2, fA), fA).sum((-1, -2))
        tau = self._fit(div_round(self._rs(self._fit(tau) * nu, fA), torch.full_like(tau, K * S), self.mode))
        a_r, a_i = hw.re[:, :, :, None, :], hw.im[:, :, :, None, :]  # [B, K, N(a), 1, S]
        b_r, b_i = hw.re[:, :, None, :, :], hw.im[:, :, None, :, :]  # [B, K, 1, N(b), S]
        lam_ab = lam[:, :, None, None, :]
        pr = self._rs(lam_ab * self._rs(a_r * b_r + a_i * b_i, fA), fA).sum((1, -1))
        pi = self._rs(lam_ab * self._rs(a_i * b_r - a_r * b_i, fA), fA).sum((1, -1))
        diag = torch.eye(N, dtype=torch.bool)  # masks, not torch.diagonal (its ONNX form is a conditional)
        Cm = Words(self._fit(pr + torch.where(diag, tau[:, None, None], torch.zeros_like(pr))), self._fit(pi))
        if self.exact:
            Mx = self._cinv(Cm)
            M = Words(Mx.re[:, None].expand(B, K, N, N), Mx.im[:, None].expand(B, K, N, N))
        else:  # (29)-(30): diag(C)^-1 B + D^-
            d = torch.where(diag, Cm.re, torch.zeros_like(Cm.re)).sum(-1)  # diag(C) [B, N]
            safe = torch.where(d == 0, torch.ones_like(d), d)
            inv_d = torch.where(d == 0, torch.zeros_like(d),
                                self._fit(div_round(torch.full_like(d, (1 << fA) << fA), safe, self.mode)))
            inv_d = inv_d[:, None, :, None]  # [B, 1, N(a), 1]
            hb = self.hb[:, i]  # [4, K, N, N]
            M = Words(self._fit(self._rs(hb[0] * inv_d, fC) + hb[2]), self._fit(self._rs(hb[1] * inv_d, fC) + hb[3]))
        mr, mi = M.re[..., None], M.im[..., None]  # [B, K, N(a), N(b), 1]
        xr, xi = hw.re[:, :, None, :, :], hw.im[:, :, None, :, :]
        sr = self._rq(lam[:, :, None, :] * self._rq((mr * xr - mi * xi).sum(3), fA), fA)  # [B, K, N, S]
        si = self._rq(lam[:, :, None, :] * self._rq((mr * xi + mi * xr).sum(3), fA), fA)
        Fk = self._tq(tuple(self.hbf[j, i][:, :, None] for j in range(4)), Words(sr, si))  # (31c)
        return self._normalise(Words(Fk.re.permute(0, 2, 1, 3).reshape(B, N, K * S),
                                     Fk.im.permute(0, 2, 1, 3).reshape(B, N, K * S)))

    def _dual_step(self, i: int, H: Words, F: Words, W: Words, w2: torch.Tensor, t: torch.Tensor,
                   nu: torch.Tensor) -> torch.Tensor:
        """Layer ``i``'s (23), (31d): each stream's MSE from ``G = W_k^H H_k F``, then ``t``."""
        K, S, fA, fC = self.K, self.S, self.fA, self.fC
        one = 1 << fA
        A = self._matmul(H, Words(F.re[:, None], F.im[:, None]))  # [B, K, R, K S]
        wr, wi = W.re[..., None], W.im[..., None]  # [B, K, R, S, 1]
        Ar, Ai = A.re[:, :, :, None, :], A.im[:, :, :, None, :]
        gr = self._rq((wr * Ar + wi * Ai).sum(2), fA)  # [B, K, S, K S]
        gi = self._rq((wr * Ai - wi * Ar).sum(2), fA)
        tot = (gr * gr + gi * gi).sum(-1)  # [B, K, S]
        own_mask = torch.eye(K * S, dtype=torch.bool).reshape(K, S, K * S)  # [k, s, c]: c = k S + s
        own = torch.where(own_mask, gr, torch.zeros_like(gr)).sum(-1)  # g of the stream's own column
        own_i = torch.where(own_mask, gi, torch.zeros_like(gi)).sum(-1)
        eps = self._rq((one - own) * (one - own) + own_i * own_i + tot - (own * own + own_i * own_i)
                       + nu[:, None, None] * self._rq(w2, fA), fA)
        inner = self._fit(t + self._rs(self.hbs[4, i][:, None] * (one - self._rq(eps * self._exp2(t), fA)), fC))
        tn = self._fit(self._rs(self.hbs[2, i][:, None] * inner, fC) + self.hbs[3, i][:, None])
        return torch.clamp(tn, T_RANGE[0] * one, T_RANGE[1] * one)

    def slot(self, y: Words, nu: torch.Tensor) -> tuple[Words, Words]:
        """Received words ``y`` ``[B, K, R, L]`` -> ``F_BB`` and ``W_BB`` words (Twins when ``y`` or
        the constants are)."""
        return self.hbdun(self.cedun(y), nu)

    def forward(self, y_re: torch.Tensor, y_im: torch.Tensor, nu: torch.Tensor):
        F, W = self.slot(Words(y_re, y_im), nu)
        return tuple(v.to(torch.int32) for v in (F.re, F.im, W.re, W.im))


def slot_words(hw: Any, Y: np.ndarray, nu_word: int) -> tuple[np.ndarray, np.ndarray]:
    """The model on received words ``Y [B, K, R, L, 2]`` with the noise word ``nu_word``:
    ``F_bb [B, N, K S, 2]`` and ``W_bb [B, K, R, S, 2]`` words (int64, the kernel's layout)."""
    with torch.no_grad():
        f_re, f_im, w_re, w_im = JcehbSlotInt(hw)(torch.from_numpy(np.ascontiguousarray(Y[..., 0], np.int64)),
                                                  torch.from_numpy(np.ascontiguousarray(Y[..., 1], np.int64)),
                                                  torch.full((Y.shape[0],), int(nu_word), dtype=torch.int64))
    pair = lambda re, im: np.stack([re.numpy(), im.numpy()], -1).astype(np.int64)  # noqa: E731
    return pair(f_re, f_im), pair(w_re, w_im)
