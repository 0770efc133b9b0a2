"""ONNX export of the MSER network (eq. 27-30, 26) in real arithmetic, one graph.

The graph takes one design start per channel and returns the network's design:

* inputs ``h_re, h_im [B, K, N_r, N_t]`` (the channels), the start (spec 2.4, computed on the
  host as for the hardware datapath) as ``theta_f [B, N_t, R_t]``, ``v_re, v_im [B, R_t, D]``,
  ``theta_u [B, K, R_r, N_r]``, ``w_re, w_im [B, K, R_r, D_k]``, and ``sigma [B]`` the noise std;
* outputs the same design names with an ``_out`` suffix.

The phases travel as angles: a layer adds its step to them, as (29)-(30) do, and forms
``cos``/``sin`` (the torch network takes ``angle(U)`` of ``U = e^{j theta}``, the same angle
modulo 2 pi).  Every trained constant comes from the kernel packing
(:func:`kernels.mser.forward.pack_mser`: steps premultiplied, widths relative to the noise), so
the graph computes what :mod:`kernels.mser._float` computes, operation for operation up to the
order of sums; the symbol sets are constants.  Per-user widths of the P step are handled by
forming ``M`` for every (width, user) pair and a constant column mask.  Only standard opset-17
nodes; inputs are not validated inside the graph.  Checked against the float kernel in float64
(tests) and in onnxruntime float32 by the SER of its designs (the bundle's check).
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from hbf_edge import __version__, cplx
from hbf_edge.cplx import C
from hbf_edge.export._core.onnx_meta import save_with_metadata
from hbf_edge.export._core.trace import lean_export
from hbf_edge.families.mser.kde import own_stream_mask

__all__ = ["MserGraph", "export_mser_onnx", "write_mser_float_graph", "run_mser_onnx", "OPSET", "INPUTS", "OUTPUTS"]

OPSET = 17
INPUTS = ["h_re", "h_im", "theta_f", "v_re", "v_im", "theta_u", "w_re", "w_im", "sigma"]
OUTPUTS = [f"{n}_out" for n in INPUTS[2:-1]]


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


class MserGraph(nn.Module):
    """The network of a kernel packing (:class:`~hbf_edge.kernels.mser.forward.MserModel`) as a
    real-arithmetic torch module (module notes)."""

    def __init__(self, model: Any, layers: tuple[int, int] | None = None) -> None:
        super().__init__()
        Nt, Rt, K, Nr, Rr, Dk = model.sizes
        self.K, self.Dk, self.L = K, Dk, model.n_layers
        self.layers = (0, model.n_layers) if layers is None else layers  # layers first .. stop - 1
        self.power = float(model.power)
        self.sigma_ref = model.sigma_ref
        for name, value in model.arrays.items():
            self.register_buffer(name, _t(value))
        mask = np.zeros((K, 1, K * Dk))
        for k in range(K):
            mask[k, :, k * Dk:(k + 1) * Dk] = 1.0
        self.register_buffer("colmask", _t(mask))  # user k's columns of V
        self.qam = bool(model.qam)
        self.register_buffer("ownmask", _t(own_stream_mask(K, Dk)))  # stream (k, i)'s own column (16-QAM)

    def _factor(self, sigma: torch.Tensor) -> torch.Tensor:
        return sigma / self.sigma_ref if self.sigma_ref is not None else torch.ones_like(sigma)

    def _weights(self, E: C, Y: C, S: C, r: torch.Tensor) -> C:
        """``M = c Beta S^H`` for outputs ``Y = E S [B, K, D_k, J]`` and widths ``r`` broadcast to
        ``[B, ..., K, 1, 1]`` (absolute); 16-QAM's form (:meth:`_weights_qam`) reads ``E``."""
        if self.qam:
            return self._weights_qam(E, Y, S, r)
        K, Dk, J = self.K, self.Dk, S.re.shape[-1]
        Sk = C(S.re.reshape(K, Dk, J), S.im.reshape(K, Dk, J))
        inv2 = 1.0 / (2.0 * r * r)
        beta = C(torch.exp(-Y.re * Y.re * inv2) * Sk.re, torch.exp(-Y.im * Y.im * inv2) * Sk.im)
        c = 1.0 / (J * math.sqrt(2.0 * math.pi) * r)
        M = cplx.matmul_bh(beta, S)
        return C(c * M.re, c * M.im)

    def _weights_qam(self, E: C, Y: C, S: C, r: torch.Tensor) -> C:
        """16-QAM's ``M = -grad_E`` (:mod:`hbf_edge.families.mser.kde`, eq. 47-48 [R]; the float
        kernel's ``_weights_qam``): each stream read after the rotation by its desired gain ``c``,
        the distance to the lower boundary of its symbol's region, and the term through ``c`` on
        the stream's own column."""
        K, Dk, J = self.K, self.Dk, S.re.shape[-1]
        c = C((E.re * self.ownmask).sum(-1, keepdim=True), (E.im * self.ownmask).sum(-1, keepdim=True))
        mag = torch.sqrt(c.re * c.re + c.im * c.im) + 1e-300
        u = C((Y.re * c.re + Y.im * c.im) / mag, (Y.im * c.re - Y.re * c.im) / mag)  # Y conj(c) / |c|
        br, bi = S.re.reshape(K, Dk, J) - 1.0, S.im.reshape(K, Dk, J) - 1.0
        inv2 = 1.0 / (2.0 * r * r)
        er = torch.exp(-(u.re - mag * br) ** 2 * inv2)
        ei = torch.exp(-(u.im - mag * bi) ** 2 * inv2)
        own = C((-er * br - ei * bi).sum(-1, keepdim=True), ((er * u.im - ei * u.re) / mag).sum(-1, keepdim=True))
        P = cplx.matmul_bh(C(er, ei), S)
        P = C(P.re + own.re * self.ownmask, P.im + own.im * self.ownmask)
        scale = 1.5 / (J * math.sqrt(2.0 * math.pi) * r)  # phi = 1.5
        q = C(scale * c.re / mag, scale * c.im / mag)
        return cplx.mul(q, P)

    @staticmethod
    def _normalise(U: C, W: C) -> C:
        n = torch.sqrt(cplx.abs2(cplx.matmul_ah(U, W)).sum(dim=-2, keepdim=True))
        return C(W.re / n, W.im / n)

    def _scale(self, F: C, V: C) -> C:
        n = torch.sqrt(cplx.abs2(cplx.matmul(F, V)).sum(dim=(-2, -1), keepdim=True))
        s = math.sqrt(self.power) / n
        return C(V.re * s, V.im * s)

    def layer(self, i: int, H: C, tf: torch.Tensor, V: C, tu: torch.Tensor, W: C, sigma: torch.Tensor, g: torch.Tensor):
        S = C(self.sym_r[i], self.sym_i[i])
        F = C(torch.cos(tf), torch.sin(tf))
        U = C(torch.cos(tu), torch.sin(tu))
        g3, g4 = g[:, None, None], g[:, None, None, None]
        s4 = sigma[:, None, None, None]
        UH = cplx.matmul(U, H)  # [B, K, Rr, Nt]
        # (27): user k's columns with user k's width over every user's samples
        A = cplx.matmul(F, V)
        G = cplx.matmul(UH, C(A.re[:, None], A.im[:, None]))
        E = cplx.matmul_ah(W, G)  # [B, K, Dk, D]
        Y = cplx.matmul(E, S)  # [B, K, Dk, J]
        Bk = cplx.matmul_ah(UH, W)  # [B, K, Nt, Dk]
        rp = (self.widths[i, 0][None, :, None, None, None] * sigma[:, None, None, None, None])  # [B, K(k), 1, 1, 1]
        M = self._weights(C(E.re[:, None], E.im[:, None]), C(Y.re[:, None], Y.im[:, None]), S, rp)  # [B, K(k), K(kk), Dk, D]
        Z = cplx.matmul(C(Bk.re[:, None], Bk.im[:, None]), M)  # [B, K(k), K(kk), Nt, D]
        Z = C(Z.re.sum(dim=2), Z.im.sum(dim=2))  # [B, K(k), Nt, D]
        gv = cplx.matmul_ah(C(F.re[:, None], F.im[:, None]), Z)  # [B, K(k), Rt, D], = -grad_V
        gv = C((gv.re * self.colmask).sum(dim=1), (gv.im * self.colmask).sum(dim=1))
        step = cplx.mul(C(self.ap_r[i], self.ap_i[i]), gv)
        V = C(V.re + g3 * step.re + self.op_r[i], V.im + g3 * step.im + self.op_i[i])
        # (28): W_k with width rho_Wk, then the normalisation
        A = cplx.matmul(F, V)
        G = cplx.matmul(UH, C(A.re[:, None], A.im[:, None]))
        E = cplx.matmul_ah(W, G)
        M = self._weights(E, cplx.matmul(E, S), S, self.widths[i, 1][None, :, None, None] * s4)
        step = cplx.mul(C(self.aw_r[i], self.aw_i[i]), cplx.matmul_bh(G, M))
        W = self._normalise(U, C(W.re + g4 * step.re + self.ow_r[i], W.im + g4 * step.im + self.ow_i[i]))
        # (29): theta_Uk with width rho_thetaUk, then the normalisation
        E = cplx.matmul_ah(W, G)
        M = self._weights(E, cplx.matmul(E, S), S, self.widths[i, 2][None, :, None, None] * s4)
        T = cplx.matmul_bh(cplx.matmul_bh(M, C(A.re[:, None], A.im[:, None])), H)  # M A^H H^H [B, K, Dk, Nr]
        gu = cplx.matmul(W, T)  # = -grad_U
        tu = tu + g4 * self.au[i] * (U.re * gu.im - U.im * gu.re) + self.ou[i]
        U = C(torch.cos(tu), torch.sin(tu))
        W = self._normalise(U, W)
        UH = cplx.matmul(U, H)
        # (30) (the plain step (25) in the last layer): theta_F with one width
        G = cplx.matmul(UH, C(A.re[:, None], A.im[:, None]))
        E = cplx.matmul_ah(W, G)
        M = self._weights(E, cplx.matmul(E, S), S, self.widths_f[i] * s4)
        Z = cplx.matmul(cplx.matmul_ah(UH, W), M)
        Z = C(Z.re.sum(dim=1), Z.im.sum(dim=1))  # [B, Nt, D]
        gf = cplx.matmul_bh(Z, V)  # = -grad_F
        tf = tf + g3 * self.af[i] * (F.re * gf.im - F.im * gf.re) + self.of_[i]
        F = C(torch.cos(tf), torch.sin(tf))
        return tf, self._scale(F, V), tu, W  # (26)

    def forward(self, h_re, h_im, theta_f, v_re, v_im, theta_u, w_re, w_im, sigma):
        H, V, W = C(h_re, h_im), C(v_re, v_im), C(w_re, w_im)
        g = self._factor(sigma)
        tf, tu = theta_f, theta_u
        for i in range(*self.layers):
            tf, V, tu, W = self.layer(i, H, tf, V, tu, W, sigma, g)
        return tf, V.re, V.im, tu, W.re, W.im


def export_mser_onnx(model: Any, config: Any, path: str | os.PathLike, layers: tuple[int, int] | None = None) -> Path:
    """Trace the network of the kernel packing ``model`` in float32 to ``path``, add metadata
    (family, sizes, layers, layout, package version) and check it with onnx.  QPSK or 16-QAM
    (the metadata's ``constellation``).  ``layers = (first, stop)``: only those layers (the
    profiler's per-layer graphs); default all."""
    Nt, Rt, K, Nr, Rr, Dk = model.sizes
    graph = MserGraph(model, layers).float().eval()
    B, D = 2, K * Dk
    shapes = {"h_re": (B, K, Nr, Nt), "h_im": (B, K, Nr, Nt), "theta_f": (B, Nt, Rt), "v_re": (B, Rt, D),
              "v_im": (B, Rt, D), "theta_u": (B, K, Rr, Nr), "w_re": (B, K, Rr, Dk), "w_im": (B, K, Rr, Dk),
              "sigma": (B,)}
    example = tuple(torch.full(shapes[name], 0.1) for name in INPUTS)
    path = Path(path)
    dynamic = {name: {0: "batch"} for name in INPUTS + OUTPUTS}
    with warnings.catch_warnings(), torch.no_grad(), lean_export():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(graph, example, str(path), input_names=INPUTS, output_names=OUTPUTS, dynamic_axes=dynamic,
                          opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(path))
    meta = {"family": config.family, "N_t": Nt, "R_t": Rt, "K": K, "N_r": Nr, "R_r": Rr, "D_k": Dk,
            "layers": model.n_layers if layers is None else f"{layers[0]}..{layers[1] - 1}", "constellation": "16qam" if model.qam else "qpsk",
            "package_version": __version__,
            "layout": "inputs h_re,h_im [B,K,N_r,N_t]; the start theta_f [B,N_t,R_t], v_re,v_im [B,R_t,K*D_k], "
                      "theta_u [B,K,R_r,N_r] (U_k is R_r x N_r), w_re,w_im [B,K,R_r,D_k]; sigma [B] (noise std, "
                      "P_T = 1); outputs the same with _out (angles in radians, not wrapped)"}
    return save_with_metadata(proto, path, meta)


def write_mser_float_graph(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """``model.onnx`` of an MSER model directory (the float network of its kernel packing) into the
    folder ``out``."""
    from hbf_edge.kernels.mser.hardware import load_mser_hw
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(model_dir)
    return export_mser_onnx(load_mser_hw(model_dir).model, config, Path(out) / "model.onnx")


def run_mser_onnx(path: str | os.PathLike, H: np.ndarray, start: tuple[np.ndarray, ...],
                  sigma: float | np.ndarray) -> tuple[np.ndarray, ...]:
    """Run an exported graph in onnxruntime on channels ``H`` from ``start = (F, V, U, W)``
    (complex); returns the design ``(F, V, U, W)`` complex128."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    F, V, U, W = start
    f32 = lambda x: np.ascontiguousarray(x, np.float32)  # noqa: E731
    feed = {"h_re": f32(H.real), "h_im": f32(H.imag), "theta_f": f32(np.angle(F)), "v_re": f32(V.real),
            "v_im": f32(V.imag), "theta_u": f32(np.angle(U)), "w_re": f32(W.real), "w_im": f32(W.imag),
            "sigma": np.broadcast_to(np.asarray(sigma, np.float32), (H.shape[0],)).copy()}
    tf, vr, vi, tu, wr, wi = (x.astype(np.float64) for x in sess.run(OUTPUTS, feed))
    return np.exp(1j * tf), vr + 1j * vi, np.exp(1j * tu), wr + 1j * wi
