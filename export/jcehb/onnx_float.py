"""ONNX export of JCEHB's per-slot network: CEDUN and HBDUN in real arithmetic, one graph.

The graph takes what a slot delivers -- the received pilots ``y_re, y_im [B, K, R, L]`` (after
the trained analog combiners, float32, dynamic batch) and the slot's noise power ``nu [B]`` --
and returns ``f_re, f_im [B, N, K N_s]`` (F_BB) and ``w_re, w_im [B, K, R, N_s]`` (W_BB).
Everything programmed once per superframe is a constant of the graph: the analog beams' Gram
``F_RF^H F_RF``, the pilots and every trained multiplier and offset.

What is computed where (the superframe / slot split of spec 6.1, as in the integer datapath):

* CEDUN's (17a)-(17c) -- ``P``, ``g`` and the gain ``v`` -- depend on the pilots and the trained
  constants only, never on the received data, so their ``L`` gains ``v_n [K, N]`` are computed
  here once in float64 and enter the graph as constants; the graph runs (17d) and Algorithm 1's
  step 7 per pilot column.
* HBDUN (31a)-(31d) as :meth:`hbf_edge.families.jcehb.model.JcehbNet.digital`: the MMSE
  combiners' ``R x R`` solves and, with the ``exact`` inverse, ``C^-1``, are unrolled
  Gauss-Jordan steps on Hermitian positive-definite matrices (:func:`hbf_edge.cplx.inv`).  ``C``
  is formed as ``(H^H W) diag(lambda) (H^H W)^H`` and the picks of each user's own streams by
  constant 0/1 masks, so the graph has only standard opset-17 nodes.
* Node names carry their stage (``/cedun/...``, ``/hbdun/...``); the profiler times the two
  stages as graphs of their own (``PARTS``).

Inputs are not validated inside the graph.  Checked against the torch network in float64 (to
1e-10, tests) and in onnxruntime float32 by the sum rate of its designs (the bundle's check).
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

__all__ = ["JcehbSlot", "export_jcehb_onnx", "write_jcehb_float_graph", "run_jcehb_onnx", "OPSET", "INPUTS", "OUTPUTS", "PARTS"]

OPSET = 17
INPUTS = ["y_re", "y_im", "nu"]
OUTPUTS = ["f_re", "f_im", "w_re", "w_im"]


def _pair(x: torch.Tensor) -> C:
    """A trained (re, im)-last parameter, or a complex tensor, as a constant :class:`C`."""
    x = x.detach()
    if torch.is_complex(x):
        return C(x.real.clone(), x.imag.clone())
    return C(x[..., 0].clone(), x[..., 1].clone())


def _stack_attr(module: nn.Module, prefix: str, value: C) -> None:
    module.register_buffer(f"{prefix}_re", value.re)
    module.register_buffer(f"{prefix}_im", value.im)


def _get(module: nn.Module, prefix: str) -> C:
    return C(getattr(module, f"{prefix}_re"), getattr(module, f"{prefix}_im"))


class _Cedun(nn.Module):
    """(17d) and step 7 per pilot column, from the received pilots: ``H^_eq [B, K, R, N]``."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.L = net.n_pilots
        _stack_attr(self, "x", _pair(net.pilots()))  # [N, L]
        with torch.no_grad():
            _stack_attr(self, "v", _pair(torch.stack(net.cedun_gains())))  # [L, K, N], superframe constants
        _stack_attr(self, "tw", _pair(net.ce_tw))  # [L, K, N, R]
        _stack_attr(self, "qw", _pair(net.ce_qw))

    def forward(self, y: C) -> C:
        B, K, R, _ = y.re.shape
        x, v, tw, qw = _get(self, "x"), _get(self, "v"), _get(self, "tw"), _get(self, "qw")
        N = x.re.shape[0]
        W = C(y.re.new_zeros(B, K, N, R), y.re.new_zeros(B, K, N, R))
        for n in range(self.L):
            xn = C(x.re[:, n, None], x.im[:, n, None])  # [N, 1]
            # e = y_n - W^H x: conj(W)^T x summed over N
            wx = C((W.re * xn.re + W.im * xn.im).sum(-2), (W.re * xn.im - W.im * xn.re).sum(-2))
            e = C(y.re[..., n] - wx.re, y.im[..., n] - wx.im)  # [B, K, R]
            vn = C(v.re[n][None, :, :, None], v.im[n][None, :, :, None])  # [1, K, N, 1]
            ve = cplx.mul(vn, C(e.re[:, :, None, :], -e.im[:, :, None, :]))  # v e^*  [B, K, N, R]
            W = cplx.mul(C(tw.re[n], tw.im[n]), W + ve) + C(qw.re[n], qw.im[n])  # (17d)
        return C(W.re.transpose(-1, -2), -W.im.transpose(-1, -2))  # H^ = W^H


class _Hbdun(nn.Module):
    """(31a)-(31d) from the estimate, as :meth:`JcehbNet.digital` (module notes)."""

    def __init__(self, net: Any, exact: bool) -> None:
        super().__init__()
        z = net.sizes
        self.K, self.S, self.N, self.R, self.n_hb, self.exact = z.n_users, z.n_streams, z.n_rf_tx, z.n_rf_rx, net.n_hb, exact
        self.log_a = math.log(net.alpha)
        self.floor = _lambda_floor()
        with torch.no_grad():
            F_rf, _ = net.analog()
            _stack_attr(self, "gf", _pair(F_rf.conj().T @ F_rf))  # [N, N]
            for name in ("hb_tw", "hb_qw", "hb_tf", "hb_qf"):
                _stack_attr(self, name, _pair(getattr(net, name)))
            d = torch.view_as_complex(net.hb_d)
            _stack_attr(self, "dm", _pair(d - 1j * torch.diag_embed(torch.diagonal(d, dim1=-2, dim2=-1).imag)))  # (30)
            _stack_attr(self, "hb_b", _pair(net.hb_b))
            for name in ("hb_lam", "hb_t", "hb_mu"):
                self.register_buffer(name, getattr(net, name).detach().clone())
        K, S = self.K, self.S
        own = torch.zeros(K, S, K * S, dtype=torch.float64)  # own[k, s, c] = [c == k S + s]
        for k in range(K):
            for s in range(S):
                own[k, s, k * S + s] = 1.0
        self.register_buffer("own", own)

    def _normalise(self, F: C) -> C:
        """Every user's S columns scaled to ``S`` transmit power through ``F_RF`` (31c)."""
        B = F.re.shape[0]
        GF = cplx.matmul(_get(self, "gf"), F)
        power = (F.re * GF.re + F.im * GF.im).sum(-2).reshape(B, self.K, self.S).sum(-1)  # [B, K]
        s = torch.sqrt(self.S / power)[:, :, None].expand(B, self.K, self.S).reshape(B, 1, self.K * self.S)
        return cplx.scale(F, s)

    def _mmse(self, He: C, F: C, nu: torch.Tensor) -> C:
        """Eq. (24): each user's MMSE combiner of its own streams ``[B, K, R, S]``."""
        A = cplx.matmul(He, C(F.re[:, None], F.im[:, None]))  # [B, K, R, K S]
        cov = cplx.matmul_bh(A, A)
        eye = torch.eye(self.R, dtype=nu.dtype)
        cov = C(cov.re + nu[:, None, None, None] * eye, cov.im)
        own = C((A.re[:, :, :, None, :] * self.own[None, :, None]).sum(-1),
                (A.im[:, :, :, None, :] * self.own[None, :, None]).sum(-1))  # [B, K, R, S]
        return cplx.matmul(cplx.inv(cov), own)

    def _mse(self, He: C, F: C, W: C, nu: torch.Tensor) -> torch.Tensor:
        """Every stream's MSE ``[B, K, S]`` (the eps of (31d))."""
        G = cplx.matmul_ah(W, cplx.matmul(He, C(F.re[:, None], F.im[:, None])))  # [B, K, S, K S]
        power = cplx.abs2(G)
        d = C((G.re * self.own).sum(-1), (G.im * self.own).sum(-1))
        return ((1 - d.re) ** 2 + d.im ** 2 + power.sum(-1) - cplx.abs2(d)
                + nu[:, None, None] * cplx.abs2(W).sum(2))

    def _columns(self, f: C) -> C:
        """``[B, K, N, S]`` -> the precoder ``[B, N, K S]`` (users side by side)."""
        B = f.re.shape[0]
        return C(f.re.permute(0, 2, 1, 3).reshape(B, self.N, self.K * self.S),
                 f.im.permute(0, 2, 1, 3).reshape(B, self.N, self.K * self.S))

    def forward(self, He: C, nu: torch.Tensor) -> tuple[C, C]:
        B, K, S, N = He.re.shape[0], self.K, self.S, self.N
        Hh = C(He.re.transpose(-1, -2), -He.im.transpose(-1, -2))  # [B, K, N, R]
        F = self._normalise(self._columns(C(Hh.re[..., :S], Hh.im[..., :S])))
        t = nu.new_zeros(B, K, S)
        tw, qw, tf, qf = (_get(self, n) for n in ("hb_tw", "hb_qw", "hb_tf", "hb_qf"))
        b, dm = _get(self, "hb_b"), _get(self, "dm")
        for i in range(self.n_hb):
            W = cplx.mul(C(tw.re[i], tw.im[i]), self._mmse(He, F, nu)) + C(qw.re[i], qw.im[i])  # (31a)
            mu = self.hb_mu[i][None, :, None]
            lam = torch.clamp(self.hb_lam[i, :, 0][None, :, None] * mu * torch.exp(t * self.log_a)
                              + self.hb_lam[i, :, 1][None, :, None], min=self.floor)  # (31b)
            hw = cplx.matmul(Hh, W)  # [B, K, N, S]
            tau = nu * (lam * cplx.abs2(W).sum(2)).sum(dim=(1, 2)) / (K * S)
            hl = cplx.scale(hw, lam[:, :, None, :])
            Cm = cplx.matmul_bh(self._columns(hl), self._columns(hw))  # sum_ks lam hw hw^H  [B, N, N]
            Cm = C(Cm.re + tau[:, None, None] * torch.eye(N, dtype=nu.dtype), Cm.im)
            if self.exact:
                Ci = cplx.inv(Cm)
                d = cplx.matmul(C(Ci.re[:, None], Ci.im[:, None]), hw)
            else:  # (29)-(30): diag(C)^-1 B + D^-
                diag = torch.diagonal(Cm.re, dim1=-2, dim2=-1)[:, None, :, None]  # [B, 1, N, 1]
                M = C(b.re[i][None] / diag + dm.re[i][None], b.im[i][None] / diag + dm.im[i][None])
                d = cplx.matmul(M, hw)
            f = cplx.mul(C(tf.re[i][None, :, :, None], tf.im[i][None, :, :, None]), cplx.scale(d, lam[:, :, None, :])) \
                + C(qf.re[i][None, :, :, None], qf.im[i][None, :, :, None])
            F = self._normalise(self._columns(f))  # (31c)
            eps = self._mse(He, F, W, nu)
            t = torch.clamp(self.hb_t[i, :, 0][None, :, None] * (t + mu * (1 - eps * torch.exp(t * self.log_a)))
                            + self.hb_t[i, :, 1][None, :, None], -4.0, 16.0)  # (31d)
        return F, self._mmse(He, F, nu)


def _lambda_floor() -> float:
    from hbf_edge.families.jcehb.model import LAMBDA_FLOOR

    return LAMBDA_FLOOR


class JcehbSlot(nn.Module):
    """The per-slot network of a :class:`~hbf_edge.families.jcehb.model.JcehbNet` in real
    arithmetic: ``(y_re, y_im, nu) -> (f_re, f_im, w_re, w_im)`` (module notes)."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.cedun = _Cedun(net)
        self.hbdun = _Hbdun(net, net.inverse == "exact")

    def forward(self, y_re: torch.Tensor, y_im: torch.Tensor, nu: torch.Tensor):
        F, W = self.hbdun(self.cedun(C(y_re, y_im)), nu)
        return F.re, F.im, W.re, W.im


class _CedunGraph(nn.Module):
    """CEDUN alone, for the profiler: ``(y_re, y_im) -> (h_re, h_im)`` (``H^_eq [B, K, R, N]``)."""

    def __init__(self, slot: JcehbSlot) -> None:
        super().__init__()
        self.cedun = slot.cedun

    def forward(self, y_re: torch.Tensor, y_im: torch.Tensor):
        h = self.cedun(C(y_re, y_im))
        return h.re, h.im


class _HbdunGraph(nn.Module):
    """HBDUN alone, for the profiler: ``(h_re, h_im, nu) -> (f_re, f_im, w_re, w_im)``."""

    def __init__(self, slot: JcehbSlot) -> None:
        super().__init__()
        self.hbdun = slot.hbdun

    def forward(self, h_re: torch.Tensor, h_im: torch.Tensor, nu: torch.Tensor):
        F, W = self.hbdun(C(h_re, h_im), nu)
        return F.re, F.im, W.re, W.im


# part -> (graph, input names, output names): the bundle ships "slot"; the profiler times each
PARTS = {"slot": (lambda s: s, INPUTS, OUTPUTS),
         "cedun": (_CedunGraph, ["y_re", "y_im"], ["h_re", "h_im"]),
         "hbdun": (_HbdunGraph, ["h_re", "h_im", "nu"], OUTPUTS)}


def export_jcehb_onnx(net: Any, config: Any, path: str | os.PathLike, part: str = "slot") -> Path:
    """Trace the per-slot network of ``net`` (or one of its ``PARTS``) in float32 to ``path``, add
    metadata (family, sizes, pilots, layers, inverse, phase bits, layout, package version) and
    check it with onnx."""
    z = net.sizes
    wrap, inputs, outputs = PARTS[part]
    graph = wrap(JcehbSlot(net)).float().eval()
    B, K, R, N, L = 2, z.n_users, z.n_rf_rx, z.n_rf_tx, net.n_pilots
    shapes = {"y_re": (B, K, R, L), "y_im": (B, K, R, L), "h_re": (B, K, R, N), "h_im": (B, K, R, N), "nu": (B,)}
    example = tuple(torch.full(shapes[name], 0.1) for name in inputs)
    path = Path(path)
    dynamic = {name: {0: "batch"} for name in inputs + outputs}
    with warnings.catch_warnings(), torch.no_grad(), lean_export():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(graph, example, str(path), input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(path))
    q = config.spec.phase_bits
    meta = {"family": config.family, "part": part, "N_t": z.n_tx, "N_t_rf": z.n_rf_tx, "N_r": z.n_rx,
            "N_r_rf": z.n_rf_rx, "K": z.n_users, "N_s": z.n_streams, "pilots": net.n_pilots, "hb_layers": net.n_hb,
            "inverse": net.inverse, "phase_bits": "none" if q is None else q, "package_version": __version__,
            "layout": "inputs y_re,y_im [B,K,R,L] (received pilots after the analog combiners), nu [B] (noise power "
                      "per unit transmit power); outputs f_re,f_im [B,N,K*N_s] (F_BB), w_re,w_im [B,K,R,N_s] (W_BB)"}
    return save_with_metadata(proto, path, meta)


def write_jcehb_float_graph(model_dir: str | os.PathLike, out: str | os.PathLike) -> Path:
    """``model.onnx`` (the per-slot graph) of a JCEHB model directory into the folder ``out``."""
    from hbf_edge.modeldir import load_model

    net, config = load_model(model_dir, family="jcehb")
    return export_jcehb_onnx(net, config, Path(out) / "model.onnx")


def run_jcehb_onnx(path: str | os.PathLike, Y: np.ndarray, nu: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run an exported per-slot graph in onnxruntime on received pilots ``Y [B, K, R, L]``
    (complex); returns ``F_bb [B, N, K N_s]`` and ``W_bb [B, K, R, N_s]``, complex128."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    B = Y.shape[0]
    feed = {"y_re": np.ascontiguousarray(Y.real, np.float32), "y_im": np.ascontiguousarray(Y.imag, np.float32),
            "nu": np.broadcast_to(np.asarray(nu, np.float32), (B,)).copy()}
    f_re, f_im, w_re, w_im = sess.run(OUTPUTS, feed)
    return f_re.astype(np.float64) + 1j * f_im, w_re.astype(np.float64) + 1j * w_im
