"""A torch model of MSER's integer datapath, bit-exact: :class:`MserInt`.

:func:`kernels.mser._fixed.channel_fx` (the L layers of eq. (27)-(30) with the scaling (26), the
rounding of the phases to the BS's and the users' codes, the ``refit`` digital layers) written
in int64 torch operations, operation for operation: the same words, the same roundings by each
format's rule, the same saturation or wrap of every stored value (without the kernel's
counters), angles as wrap-around words, cos / sin from the phase tables, the Gaussian weights
from the ``e^{-u}`` table with the kernel's interpolation, ``isqrt`` by a float estimate
corrected exactly (primitives of :mod:`quant._core.datapath`).  It equals the integer kernel
code for code and word for word (tests); it is the quant stage's ``torch_forward_hw`` and what
:mod:`export.mser.onnx_int` traces into ``model.int.onnx``.

Inputs (int64, batch first), what the host gives the datapath
(:meth:`kernels.mser.hardware.MserHwSession.input_words`): the channel words ``h_re, h_im [B,
K, N_r, N_t]`` (``H / sigma_n``), the start ``theta_f [B, N_t, R_t]``, ``theta_u [B, K, R_r,
N_r]`` (angle words), ``v_re, v_im [B, R_t, D]``, ``w_re, w_im [B, K, R_r, D_k]`` and the step
factor ``g [B]``.  Outputs: the codes ``codes_f``, ``codes_u`` and the ``V``, ``W`` words (int32).

Built with ``words`` (:func:`quant.mser.words.twin_words`), the layer constants are
:class:`~quant._core.twin.Twin` words and so is every value computed from them: the same int64
words, with a float twin that carries the gradient straight through each rounding, table and
code (QAT of the digital words, ``hbf-edge quantize --qat-loss words``); :meth:`MserInt.run`
returns them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from hbf_edge.families.mser.formats import KERNEL_TABLE_BITS, KERNEL_U_MAX, MSER_FORMATS, RAD_FRAC
from hbf_edge.families.mser.kde import own_stream_mask
from hbf_edge.quant._core.datapath import Words
from hbf_edge.quant._core.twin import div_round, fit_word, follow, ints, isqrt, rshift

__all__ = ["MserInt", "design_words", "MSER_INT_INPUTS"]

MSER_INT_INPUTS = ["h_re", "h_im", "theta_f", "v_re", "v_im", "theta_u", "w_re", "w_im", "g"]
_I_MAX = KERNEL_U_MAX << KERNEL_TABLE_BITS


def _h(x: Words) -> Words:
    """Conjugate transpose of the last two axes."""
    return Words(x.re.transpose(-1, -2), -x.im.transpose(-1, -2))


def _users(x: Words) -> Words:
    """A new users axis (1) in front of the last two."""
    return Words(x.re[:, None], x.im[:, None])


class MserInt(nn.Module):
    """The integer datapath of a :class:`kernels.mser.hardware.MserHw` as a torch module on int64
    words (module notes)."""

    def __init__(self, hw: Any, words: dict[str, Any] | None = None) -> None:
        super().__init__()
        Nt, Rt, K, Nr, Rr, Dk = hw.model.sizes
        self.K, self.Dk, self.D = K, Dk, K * Dk
        f = hw.formats
        self.f = {name: getattr(f, name) for name in MSER_FORMATS}
        self.acc = f.accumulator
        self.fA, self.fL, self.fS = f.accumulator.frac_bits, f.lut.frac_bits, f.step.frac_bits
        self.fV, self.fW, self.fC = f.precoder.frac_bits, f.combiner.frac_bits, f.channel.frac_bits
        self.abits, self.qi, self.q_bs, self.q_ue = f.angle_bits, f.internal_phase_bits, hw.q_bs, hw.q_ue
        self.L, self.refit, self.qam = hw.model.n_layers, hw.refit, bool(hw.model.qam)
        self.register_buffer("own", torch.from_numpy(own_stream_mask(K, Dk).astype(np.int64)))  # [K, D_k, D]
        w = hw.words
        for name in ("ap_r", "ap_i", "aw_r", "aw_i", "au", "af", "op_r", "op_i", "ow_r", "ow_i", "ou", "of_", "ws",
                     "wc", "wsf", "wcf", "sym_r", "sym_i", "ktab", "lc", "ls", "oc", "os_", "uc", "us_"):
            if words is not None and name in words:  # Twin words: plain attributes, not buffers
                setattr(self, name, words[name])
                continue
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(w[name], dtype=np.int64)))
        self.power, self.rad = int(w["power"]), int(w["rad"])

    # -- the kernel's primitives ---------------------------------------------------------
    def _rq(self, x: torch.Tensor, s: int, fmt: Any = None) -> torch.Tensor:
        """``x 2^-s`` rounded by ``fmt``'s rule (default the accumulator) and fitted into it."""
        fmt = fmt or self.acc
        return fit_word(rshift(x, s, fmt.rounding), fmt)

    def _rs(self, x: torch.Tensor, s: int) -> torch.Tensor:
        return rshift(x, s, self.acc.rounding)

    def _mm(self, a: Words, b: Words, shift: int, neg: bool = False) -> Words:
        """``(+-) A B`` (``[..., P, R] x [..., R, Q]``): exact sums, each rounded once into A."""
        ar, ai, br, bi = a.re[..., :, :, None], a.im[..., :, :, None], b.re[..., None, :, :], b.im[..., None, :, :]
        sr, si = (ar * br - ai * bi).sum(-2), (ar * bi + ai * br).sum(-2)
        if neg:
            sr, si = -sr, -si
        return Words(self._rq(sr, shift), self._rq(si, shift))

    def _code(self, theta: torch.Tensor, q: int) -> torch.Tensor:
        """The ``q``-bit code (or table index) of angle words: their top bits, rounded."""
        b = self.abits
        if q == b:
            return torch.remainder(theta, 1 << q)
        return torch.remainder(rshift(theta + (1 << (b - q - 1)), b - q, "floor"), 1 << q)

    def _wrap(self, x: torch.Tensor) -> torch.Tensor:
        half = 1 << (self.abits - 1)
        return torch.remainder(x + half, 1 << self.abits) - half

    def _phases(self, theta: Any) -> Words:
        return self._table(theta, self._code(ints(theta), self.qi), self.lc, self.ls)

    def _table(self, theta: Any, i: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> Words:
        """The table words of the codes ``i`` of angle words ``theta``; a Twin angle gives them
        the gradient of ``cos``, ``sin`` of the angle (in the table's units), straight through the
        code."""
        rad, unit = 2.0 * math.pi / (1 << self.abits), math.ldexp(1.0, self.fL)
        return Words(follow(cos[i], theta, lambda f: torch.cos(f * rad) * unit),
                     follow(sin[i], theta, lambda f: torch.sin(f * rad) * unit))

    def _gauss(self, y: Any, s: Any) -> Any:
        """The Gaussian weight of A words ``y`` with width words ``s`` (kernel words); Twins get
        the gradient of ``e^{-z^2}``, ``z = y s`` (0 beyond the table, as the word)."""
        word = self._gauss_words(ints(y), ints(s))
        fA, fS, fK = self.fA, self.fS, self.f["kernel"].frac_bits

        def exp(yf: torch.Tensor, sf: torch.Tensor) -> torch.Tensor:
            z = yf * sf * math.ldexp(1.0, -fS - fA)
            return torch.where(word == 0, torch.zeros_like(z), torch.exp(-z * z) * math.ldexp(1.0, fK))

        return follow(word, (y, s), exp)

    def _gauss_words(self, y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        fA, sh = self.fA, self.fA - KERNEL_TABLE_BITS
        z = self._rs(y * s, self.fS)
        far = (z >= (1 << 31)) | (z <= -(1 << 31))
        z = torch.where(far, torch.zeros_like(z), z)
        u = self._rs(z * z, fA)
        i = rshift(u, sh, "floor")
        out = (i >= _I_MAX) | far
        i = torch.clamp(i, 0, _I_MAX - 1)
        t0, t1 = self.ktab[i], self.ktab[i + 1]
        val = t0 + rshift((t1 - t0) * (u - i * (1 << sh)), sh, self.f["kernel"].rounding)
        return torch.where(out, torch.zeros_like(val), val)

    def _outputs(self, E: Words, layer: int) -> Words:
        """``Y = E S`` ``[..., D_k, J]``: exact (the symbols are small integers), fitted into A."""
        Sr, Si = self.sym_r[layer], self.sym_i[layer]  # [D, J]
        er, ei = E.re[..., :, :, None], E.im[..., :, :, None]
        return Words(fit_word((er * Sr - ei * Si).sum(-2), self.acc), fit_word((er * Si + ei * Sr).sum(-2), self.acc))

    def _weights_qam(self, Y: Words, E: Words, s: torch.Tensor, c: torch.Tensor, layer: int) -> Words:
        """16-QAM's ``M_k`` ``[B, K, D_k, D]`` (the kernel's ``_weights_qam``) from the outputs ``Y``
        and ``E [B, K, D_k, D]``; widths as :meth:`_weights`."""
        K, Dk, fA, mode = self.K, self.Dk, self.fA, self.acc.rounding
        Sr, Si = self.sym_r[layer], self.sym_i[layer]  # [D, J]
        cr, ci = (E.re * self.own).sum(-1), (E.im * self.own).sum(-1)  # each stream's desired gain, [B, K, D_k]
        mag = isqrt(self._rq(cr * cr + ci * ci, fA) * (1 << fA))
        ok = mag != 0
        safe = torch.where(ok, mag, torch.ones_like(mag))
        qr = fit_word(div_round(cr * (1 << fA), safe, mode), self.acc)[..., None]
        qi = fit_word(div_round(ci * (1 << fA), safe, mode), self.acc)[..., None]
        ur = self._rs(Y.re * qr + Y.im * qi, fA)  # [B, K, D_k, J]
        ui = self._rs(Y.im * qr - Y.re * qi, fA)
        br, bi = Sr.reshape(K, Dk, -1) - 1, Si.reshape(K, Dk, -1) - 1  # own symbol - 1
        m = mag[..., None]
        sw = s[:, :, None, :, None]  # per column d: that column's width, [.., D, 1]
        tr = self._gauss((ur - m * br)[:, :, :, None, :], sw)  # [B, K, D_k, D, J]
        ti = self._gauss((ui - m * bi)[:, :, :, None, :], sw)
        own_r = -(tr * br[:, :, None, :] + ti * bi[:, :, None, :]).sum(-1)  # [B, K, D_k, D]
        num_i = (tr * ui[:, :, :, None, :] - ti * ur[:, :, :, None, :]).sum(-1)
        own_i = div_round(num_i, safe[..., None].expand_as(num_i), mode)
        pr = (tr * Sr + ti * Si).sum(-1) + self.own * own_r
        pi = (ti * Sr - tr * Si).sum(-1) + self.own * own_i
        xr = self._rs(qr * pr - qi * pi, fA)
        xi = self._rs(qr * pi + qi * pr, fA)
        sh = self.fS + self.f["kernel"].frac_bits - fA + 1
        cc = 3 * c[:, :, None, :]
        keep = ok[..., None]
        zero = torch.zeros_like(xr)
        return Words(torch.where(keep, self._rq(cc * xr, sh), zero), torch.where(keep, self._rq(cc * xi, sh), zero))

    def _weights(self, Y: Words, E: Words, s: torch.Tensor, c: torch.Tensor, layer: int) -> Words:
        """``M_k = c Beta S^H`` ``[B, K, D_k, D]`` of every user's outputs ``Y [B, K, D_k, J]``
        (16-QAM's form from ``E [B, K, D_k, D]`` too: :meth:`_weights_qam`); the width words ``s, c
        [B', K, D]`` (per user and column, broadcast) pick each column's width."""
        if self.qam:
            return self._weights_qam(Y, E, s, c, layer)
        K, Dk = self.K, self.Dk
        Sr, Si = self.sym_r[layer], self.sym_i[layer]  # [D, J]
        own_r, own_i = Sr.reshape(K, Dk, -1), Si.reshape(K, Dk, -1)  # user k's rows of S
        # per column d: Beta with that column's width, [B, K, D_k, D, J]
        tr = self._gauss(Y.re[:, :, :, None, :], s[:, :, None, :, None]) * own_r[None, :, :, None, :]
        ti = self._gauss(Y.im[:, :, :, None, :], s[:, :, None, :, None]) * own_i[None, :, :, None, :]
        pr = (tr * Sr + ti * Si).sum(-1)
        pi = (ti * Sr - tr * Si).sum(-1)
        sh = self.fS + self.f["kernel"].frac_bits - self.fA
        cc = c[:, :, None, :]
        return Words(self._rq(cc * pr, sh), self._rq(cc * pi, sh))

    def _zsum(self, Bm: Words, M: Words) -> Words:
        """``Z = sum_k B_k M_k`` ``[B, N_t, D]``: one rounding of the whole sum."""
        br, bi = Bm.re[..., :, :, None], Bm.im[..., :, :, None]  # [B, K, N_t, D_k, 1]
        mr, mi = M.re[:, :, None, :, :], M.im[:, :, None, :, :]  # [B, K, 1, D_k, D]
        return Words(self._rq((br * mr - bi * mi).sum((1, 3)), self.fA), self._rq((br * mi + bi * mr).sum((1, 3)), self.fA))

    def _cstep(self, a: Words, x: Words, g: torch.Tensor) -> Words:
        """``requant(g requant(a x, fS), fS)`` (complex)."""
        tr = self._rq(a.re * x.re - a.im * x.im, self.fS)
        ti = self._rq(a.re * x.im + a.im * x.re, self.fS)
        return Words(self._rq(g * tr, self.fS), self._rq(g * ti, self.fS))

    def _phase_step(self, theta: torch.Tensor, X: Words, grad: Words, a: torch.Tensor, off: torch.Tensor,
                    g: torch.Tensor) -> torch.Tensor:
        d = self._rq(X.re * grad.im - X.im * grad.re, self.fL)
        t = self._rq(g * self._rq(a * d, self.fS), self.fS)
        return self._wrap(theta - self._rs(t * self.rad, self.fA + RAD_FRAC) + off)

    def _normalise(self, U: Words, W: Words) -> Words:
        """``w_i <- w_i / ||U_k^H w_i||`` for every user and stream; ``q = 0`` leaves ``w_i``."""
        fA, cmb = self.fA, self.f["combiner"]
        P = self._mm(_h(U), W, self.fL + self.fW - fA)  # [B, K, N_r, D_k]
        s = self._rq((P.re * P.re + P.im * P.im).sum(-2), fA)  # [B, K, D_k]
        q = isqrt(s * (1 << fA))
        ok = (q != 0)[:, :, None, :]
        inv = fit_word(div_round(torch.full_like(q, 1 << (2 * fA)), torch.where(q == 0, torch.ones_like(q), q),
                                 self.acc.rounding), self.acc)[:, :, None, :]
        return Words(torch.where(ok, self._rq(W.re * inv, fA, cmb), W.re), torch.where(ok, self._rq(W.im * inv, fA, cmb), W.im))

    def _scale_v(self, F: Words, V: Words) -> Words:
        """(26): ``V <- sqrt(P) V / ||F V||_F``; ``n = 0`` leaves ``V``."""
        fA, pre = self.fA, self.f["precoder"]
        A = self._mm(F, V, self.fL + self.fV - fA)
        s = self._rq((A.re * A.re + A.im * A.im).sum((-1, -2)), fA)  # [B]
        ok = (s != 0)[:, None, None]
        ratio = fit_word(div_round(torch.full_like(s, self.power << fA), torch.where(s == 0, torch.ones_like(s), s),
                                   self.acc.rounding), self.acc)
        scale = isqrt(ratio * (1 << fA))[:, None, None]
        return Words(torch.where(ok, self._rq(V.re * scale, fA, pre), V.re), torch.where(ok, self._rq(V.im * scale, fA, pre), V.im))

    # -- the layers ----------------------------------------------------------------------
    def _v_step(self, layer: int, F: Words, V: Words, UH: Words, W: Words, g: torch.Tensor) -> Words:
        """(27): V, the columns of user k with user k's width over every user's samples."""
        fA, fV, pre = self.fA, self.fV, self.f["precoder"]
        ws, wc = self.ws[layer], self.wc[layer]  # [3, K]
        G = self._mm(UH, _users(self._mm(F, V, self.fL + fV - fA)), fA)  # [B, K, R_r, D]
        E = self._mm(_h(W), G, self.fW)
        col = lambda row: row.repeat_interleave(self.Dk)[None, None, :]  # noqa: E731 - the width of each column
        M = self._weights(self._outputs(E, layer), E, col(ws[0]), col(wc[0]), layer)
        Z = self._zsum(self._mm(_h(UH), W, self.fW), M)
        t = self._cstep(Words(self.ap_r[layer], self.ap_i[layer]), self._mm(_h(F), Z, self.fL, neg=True),
                        g[:, None, None])
        return Words(fit_word(V.re - rshift(t.re, fA - fV, pre.rounding) + self.op_r[layer], pre),
                     fit_word(V.im - rshift(t.im, fA - fV, pre.rounding) + self.op_i[layer], pre))

    def _w_step(self, layer: int, G: Words, U: Words, W: Words, g: torch.Tensor) -> Words:
        """(28): W_k with width rho_Wk from ``G = U_k H_k F V``, then the combiner normalisation."""
        fA, fW, cmb = self.fA, self.fW, self.f["combiner"]
        ws, wc = self.ws[layer], self.wc[layer]
        E = self._mm(_h(W), G, fW)
        M = self._weights(self._outputs(E, layer), E, ws[1][None, :, None], wc[1][None, :, None], layer)
        t = self._cstep(Words(self.aw_r[layer], self.aw_i[layer]), self._mm(G, _h(M), fA), g[:, None, None, None])
        W = Words(fit_word(W.re + rshift(t.re, fA - fW, cmb.rounding) + self.ow_r[layer], cmb),
                  fit_word(W.im + rshift(t.im, fA - fW, cmb.rounding) + self.ow_i[layer], cmb))
        return self._normalise(U, W)

    def _u_step(self, layer: int, H: Words, A: Words, G: Words, W: Words, tu: torch.Tensor, U: Words,
                g: torch.Tensor) -> torch.Tensor:
        """(29): theta_Uk with width rho_thetaUk; the new angle words."""
        ws, wc = self.ws[layer], self.wc[layer]
        E = self._mm(_h(W), G, self.fW)
        M = self._weights(self._outputs(E, layer), E, ws[2][None, :, None], wc[2][None, :, None], layer)
        t2 = self._mm(self._mm(M, _h(A), self.fA), _h(H), self.fC)  # [B, K, D_k, N_r]
        gu = self._mm(W, t2, self.fW, neg=True)  # [B, K, R_r, N_r]
        return self._phase_step(tu, U, gu, self.au[layer], self.ou[layer], g[:, None, None, None])

    def _f_step(self, layer: int, A: Words, UH: Words, W: Words, V: Words, tf: torch.Tensor, F: Words,
                g: torch.Tensor) -> torch.Tensor:
        """(30) (the plain step (25) in the last layer): theta_F with one width for all users."""
        G = self._mm(UH, A, self.fA)
        E = self._mm(_h(W), G, self.fW)
        M = self._weights(self._outputs(E, layer), E, self.wsf[layer].reshape(1, 1, 1),
                          self.wcf[layer].reshape(1, 1, 1), layer)
        gf = self._mm(self._zsum(self._mm(_h(UH), W, self.fW), M), _h(V), self.fV, neg=True)  # [B, N_t, R_t]
        return self._phase_step(tf, F, gf, self.af[layer], self.of_[layer], g[:, None, None])

    def forward(self, h_re, h_im, theta_f, v_re, v_im, theta_u, w_re, w_im, g):
        cf, cu, V, W, _, _ = self.run(h_re, h_im, theta_f, v_re, v_im, theta_u, w_re, w_im, g)
        return tuple(x.to(torch.int32) for x in (cf, cu, V.re, V.im, W.re, W.im))

    def run(self, h_re, h_im, theta_f, v_re, v_im, theta_u, w_re, w_im, g):
        """The layers on the input words: the codes ``cf``, ``cu`` (int64), the ``V``, ``W`` words
        and the last layer's angle words ``theta_F``, ``theta_U`` (Twins where the constants are)."""
        H, V, W = Words(h_re, h_im), Words(v_re, v_im), Words(w_re, w_im)
        tf, tu = theta_f, theta_u
        F, U = self._phases(tf), self._phases(tu)
        s_uh, s_fv = self.fL + self.fC - self.fA, self.fL + self.fV - self.fA
        UH = self._mm(U, H, s_uh)  # U_k H_k [B, K, R_r, N_t]
        cf = cu = None
        for it in range(self.L + self.refit):
            layer = min(it, self.L - 1)  # a refit layer takes the last layer's digital constants
            V = self._v_step(layer, F, V, UH, W, g)
            A = _users(self._mm(F, V, s_fv))  # [B, 1, N_t, D]
            G = self._mm(UH, A, self.fA)  # [B, K, R_r, D]
            W = self._w_step(layer, G, U, W, g)
            if it >= self.L:  # a refit layer: the phases stay at their codes
                V = self._scale_v(F, V)
                continue
            tu = self._u_step(layer, H, A, G, W, tu, U, g)
            U = self._phases(tu)
            W = self._normalise(U, W)
            UH = self._mm(U, H, s_uh)
            tf = self._f_step(layer, A, UH, W, V, tf, F, g)
            F = self._phases(tf)
            V = self._scale_v(F, V)  # (26)
            if it == self.L - 1:  # the phases to their codes, V rescaled on the codes' F
                cf, cu = self._code(ints(tf), self.q_bs), self._code(ints(tu), self.q_ue)
                F, U = self._table(tf, cf, self.oc, self.os_), self._table(tu, cu, self.uc, self.us_)
                UH = self._mm(U, H, s_uh)
                V = self._scale_v(F, V)
        return cf, cu, V, W, tf, tu


def design_words(hw: Any, words: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model on the input words ``words`` (keys ``MSER_INT_INPUTS``): ``F_codes``, ``U_codes``
    and the ``V``, ``W`` words (``(re, im)`` last), int64, in the hardware kernel's layout."""
    with torch.no_grad():
        out = MserInt(hw)(*(torch.from_numpy(np.ascontiguousarray(words[k], np.int64)) for k in MSER_INT_INPUTS))
    cf, cu, vr, vi, wr, wi = (o.numpy().astype(np.int64) for o in out)
    return {"F_codes": cf, "U_codes": cu, "V": np.stack([vr, vi], -1), "W": np.stack([wr, wi], -1)}
