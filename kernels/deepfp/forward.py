"""Public wrapper of the DeepFP float kernel: load a model directory, validate, pad, run.

Paper ``deepfp.txt`` eq. (48)-(52).  Arrays are batch first, real and imaginary parts apart,
float64, C-contiguous (the dataset units of :mod:`hbf_edge.families.deepfp.network`: unit noise, unit budget
per cell):

* ``h_re, h_im : [B, L, K, L, N_r, N_t]``, ``H[b, l, k, i]`` the channel from BS ``i`` to user ``(l, k)``;
* ``v_re, v_im : [B, L, K, N_t, d]``, a power-feasible start (``hbf_edge.families.deepfp.wsr.random_init``).

Problems smaller than the network was built for are zero-padded to its ``N_t`` and ``d``
(Section IV-E), as the torch model does.  Wrong dtypes raise ``DTypeError``; wrong shapes
``ShapeError``; NaN/inf, or a user whose own channel is all zero, ``InvalidChannelError``.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from hbf_edge.kernels._core import checks as _checks

__all__ = ["DeepfpModel", "load_deepfp", "deepfp_forward", "pack_dnn"]


@dataclasses.dataclass(frozen=True)
class DeepfpModel:
    """The trained step DNNs of a DeepFP model directory, packed for the kernels.

    ``arrays`` maps the model directory's names (``steps.i.layers.j.w_re``, ...) to float64
    arrays; ``quantization`` is the directory's ``quantization`` section (``None`` for a float
    model; :mod:`kernels.deepfp.hardware` runs a quantized one bit-accurately).
    """

    n_layers: int
    n_tx: int
    n_streams: int
    hidden: int
    n_hidden: int
    arrays: dict
    quantization: dict | None = None
    step_base: str = "frobenius"  # what the DNN's exp(out) scales (hbf_edge.families.deepfp.model.DeepFP)

    @property
    def exact_step(self) -> bool:
        if self.step_base not in ("frobenius", "exact"):
            raise _checks.ConfigError(f"step_base must be frobenius or exact, got {self.step_base!r}")
        return self.step_base == "exact"

    def packed(self) -> tuple[np.ndarray, ...]:
        return pack_dnn(self.arrays, self.n_layers, self.n_hidden)


def pack_dnn(arrays: dict, n_layers: int, n_hidden: int) -> tuple[np.ndarray, ...]:
    """``(w0r, w0i, b0r, b0i, whr, whi, bhr, bhi, wor, woi, bo)``: the layout of
    :mod:`kernels.deepfp._float` (input layer, ``n_hidden - 1`` hidden-to-hidden layers, output)."""

    def stack(j: int, name: str) -> np.ndarray:
        return np.ascontiguousarray(np.stack([arrays[f"steps.{i}.layers.{j}.{name}"] for i in range(n_layers)]),
                                    dtype=np.float64)

    w0r, w0i, b0r, b0i = (stack(0, n) for n in ("w_re", "w_im", "b_re", "b_im"))
    h = w0r.shape[1]
    if n_hidden > 1:
        whr, whi, bhr, bhi = (np.ascontiguousarray(np.stack([stack(j, n) for j in range(1, n_hidden)], axis=1))
                              for n in ("w_re", "w_im", "b_re", "b_im"))
    else:
        whr = whi = np.zeros((n_layers, 0, h, h))
        bhr = bhi = np.zeros((n_layers, 0, h))
    wor, woi = (np.ascontiguousarray(stack(n_hidden, n)[:, 0, :]) for n in ("w_re", "w_im"))
    bo = np.ascontiguousarray(stack(n_hidden, "b_re")[:, 0])
    return w0r, w0i, b0r, b0i, whr, whi, bhr, bhi, wor, woi, bo


def load_deepfp(model_dir: str | os.PathLike) -> DeepfpModel:
    """Read a DeepFP model directory (float or quantized) without torch."""
    from hbf_edge.families import runs_on
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    if not runs_on(config.family, "deepfp"):
        raise _checks.ConfigError(f"{model_dir} holds a {config.family} model, not deepfp")
    c = config.family_config
    return DeepfpModel(config.n_layers, c["n_tx"], c["n_streams"], c["hidden"], c["n_hidden"],
                       {k: np.asarray(v, np.float64) for k, v in arrays.items()}, config.quantization,
                       c.get("step_base", "frobenius"))


def check_problem(h_re, h_im, v_re, v_im, model: DeepfpModel) -> tuple[np.ndarray, ...]:
    """Validate ``H`` and ``V0`` (float64, shapes, finite, no user without its own channel)."""
    f8 = np.dtype(np.float64)
    h_re = _checks.array("h_re", h_re, f8, (None,) * 6)
    h_im = _checks.array("h_im", h_im, f8, h_re.shape)
    B, L, K, L2, Nr, Nt = h_re.shape
    if L2 != L or 0 in h_re.shape:
        raise _checks.ShapeError(f"h_re must be [B, L, K, L, N_r, N_t], got {list(h_re.shape)}")
    v_re = _checks.array("v_re", v_re, f8, (B, L, K, Nt, None))
    v_im = _checks.array("v_im", v_im, f8, v_re.shape)
    d = v_re.shape[4]
    if Nt > model.n_tx or not 1 <= d <= min(Nr, model.n_streams):
        raise _checks.ShapeError(f"the network was built for N_t <= {model.n_tx} and d <= {model.n_streams} "
                                 f"(and d <= N_r = {Nr}), got N_t = {Nt}, d = {d}")
    for name, a in (("h_re", h_re), ("h_im", h_im)):
        _checks.finite(name, a)
    for name, a in (("v_re", v_re), ("v_im", v_im)):
        if not np.all(np.isfinite(a)):
            raise _checks.InvalidChannelError(f"{name} holds NaN or inf")
    own = np.arange(L)
    own_power = (h_re[:, own, :, own] ** 2 + h_im[:, own, :, own] ** 2).sum(axis=(-2, -1))  # [L, B, K]
    if np.any(own_power == 0):
        l, b, k = np.argwhere(own_power == 0)[0]
        raise _checks.InvalidChannelError(f"network {b}: user ({l}, {k}) has an all-zero channel to its own BS")
    return h_re, h_im, v_re, v_im


def pad(h_re, h_im, v_re, v_im, model: DeepfpModel) -> tuple[np.ndarray, ...]:
    """Section IV-E: zero-pad ``N_t`` and ``d`` to the network's sizes.  V is always a copy (the
    kernels update it in place); H is copied only when it needs padding (the kernels only read it)."""
    pn, pd = model.n_tx - h_re.shape[-1], model.n_streams - v_re.shape[-1]
    if pn:
        hp = ((0, 0),) * 5 + ((0, pn),)
        h_re, h_im = np.ascontiguousarray(np.pad(h_re, hp)), np.ascontiguousarray(np.pad(h_im, hp))
    vp = ((0, 0),) * 3 + ((0, pn), (0, pd))
    return h_re, h_im, np.ascontiguousarray(np.pad(v_re, vp)), np.ascontiguousarray(np.pad(v_im, vp))


def layer_range(model: DeepfpModel, layers: tuple[int, int] | None) -> tuple[int, int]:
    first, last = (0, model.n_layers) if layers is None else layers
    if not 0 <= first < last <= model.n_layers:
        raise _checks.ConfigError(f"layers must satisfy 0 <= first < last <= {model.n_layers}, got {layers}")
    return int(first), int(last)


def deepfp_forward(h_re, h_im, v_re, v_im, model: DeepfpModel, layers: tuple[int, int] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run DeepFP layers ``layers = (first, last)`` (default all) from ``V``, float64.

    Returns
    -------
    v_re, v_im : [B, L, K, N_t, d]
        The beamformers after the last layer (unpadded, new arrays).
    steps : [B, I, L, K]
        Every user's step ``s = 1/lambda`` in each layer (zero for layers not run).
    """
    from hbf_edge.kernels.deepfp import _float as _k

    h_re, h_im, v_re, v_im = check_problem(h_re, h_im, v_re, v_im, model)
    first, last = layer_range(model, layers)
    Nt, d = v_re.shape[3], v_re.shape[4]
    hr, hi, vr, vi = pad(h_re, h_im, v_re, v_im, model)
    steps = np.zeros((h_re.shape[0], model.n_layers) + h_re.shape[1:3])
    _k.forward_batch(hr, hi, vr, vi, first, last, model.exact_step, *model.packed(), steps)
    return np.ascontiguousarray(vr[..., :Nt, :d]), np.ascontiguousarray(vi[..., :Nt, :d]), steps
