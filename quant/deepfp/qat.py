"""8-bit DeepFP: its step DNNs with Brevitas ``QuantLinear`` weights and quantized activations,
and the beamformers V in fixed point (``deepfp.txt`` Section IV, for an int8 accelerator).

Each complex linear layer ``y = W x + b`` becomes two Brevitas ``QuantLinear`` (``Re W`` and
``Im W``, 8-bit, per-tensor power-of-two scale, ``Int8WeightPerTensorFixedPoint``) combined in
real arithmetic; the biases are rounded (STE) onto the accumulator grid ``2^min(e_re, e_im) s_x``
(an int32 bias in an int8 MAC array; ``e`` the weights' power-of-two exponents, ``s_x`` the
input's scale), so the model equals the integer hardware mode of :mod:`kernels.deepfp.hardware`.
The DNN's input, every hidden activation (a ``QuantReLU`` on real and imaginary parts, eq. 47)
and its output are 8-bit with constant per-tensor scales set by calibration: the largest
magnitude seen at that site while the float network runs on calibration channels.  Constant
scales leave nothing to learn at run time, so a quantized model directory stores the float
layout of the weights (``w_re``, ``w_im``, ...) plus the scales in its config, and Brevitas
exports the DNNs as a standard QCDQ ONNX graph (:func:`export_stepnets_qcdq`).

After every layer the beamformers are rounded to a saturating fixed-point word (default Q1.15:
16 bits, 15 fraction bits; every entry of a power-feasible V is at most 1 in magnitude).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="fast_hadamard_transform")
    from brevitas.function.ops_ste import round_ste
    from brevitas.nn import QuantIdentity, QuantLinear, QuantReLU
    from brevitas.quant import Int8WeightPerTensorFixedPoint

from hbf_edge.cplx import C
from hbf_edge.families.deepfp.model import DeepFP, StepNet, to_c
from hbf_edge.errors import ConfigError
from hbf_edge.hw.spec import FixedPointFormat
from hbf_edge.families.deepfp.wsr import check_problem, random_init

from hbf_edge.quant._core.quantizers import FixedPointQuant

__all__ = ["QuantStepNet", "QuantDeepFP", "StepNets", "dnn_inputs", "calibrate_ranges", "quantize_deepfp", "export_stepnets_qcdq",
           "DEFAULT_BITS", "DEFAULT_V_BITS"]

DEFAULT_BITS = 8
DEFAULT_V_BITS = 16


def _check_bits(name: str, bits: int, lo: int, hi: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not lo <= bits <= hi:
        raise ConfigError(f"{name} must be an integer in {lo}..{hi}, got {bits!r}")
    return bits


class QuantStepNet(nn.Module):
    """A :class:`hbf_edge.families.deepfp.model.StepNet` with ``bits``-bit weights and activations.

    ``ranges`` holds the calibrated magnitude of each site: ``input``, ``hidden`` (one per hidden
    layer, after the ReLU) and ``output``.
    """

    def __init__(self, float_net: StepNet, bits: int, ranges: dict[str, Any]) -> None:
        super().__init__()
        n_hidden = len(float_net.layers) - 1
        if len(ranges["hidden"]) != n_hidden:
            raise ConfigError(f"ranges must give {n_hidden} hidden-layer magnitudes")

        def signed(r: float) -> QuantIdentity:
            return QuantIdentity(bit_width=bits, scaling_impl_type="const", min_val=-float(r), max_val=float(r))

        self.inp = signed(ranges["input"])
        self.out = signed(ranges["output"])
        self.acts = nn.ModuleList(QuantReLU(bit_width=bits, scaling_impl_type="const", max_val=float(r))
                                  for r in ranges["hidden"])
        # the scale of each dense layer's input: Brevitas keeps the constant ranges in float32,
        # and divides by 2^(b-1) (signed input) or 2^b - 1 (after a ReLU)
        self.input_scales = [float(np.float32(ranges["input"])) / 2 ** (bits - 1)]
        self.input_scales += [float(np.float32(r)) / (2 ** bits - 1) for r in ranges["hidden"]]
        self.re, self.im = nn.ModuleList(), nn.ModuleList()
        self.b_re, self.b_im = nn.ParameterList(), nn.ParameterList()
        for layer in float_net.layers:
            n_out, n_in = layer.w_re.shape
            for store, w in ((self.re, layer.w_re), (self.im, layer.w_im)):
                q = QuantLinear(n_in, n_out, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                                weight_bit_width=bits)
                q.weight.data.copy_(w.detach().to(q.weight.dtype))
                store.append(q)
            self.b_re.append(nn.Parameter(layer.b_re.detach().clone()))
            if layer.b_im is not None:
                self.b_im.append(nn.Parameter(layer.b_im.detach().clone()))

    def accumulator_scale(self, i: int) -> torch.Tensor:
        """The grid of dense layer ``i``'s accumulator: the finer weight scale times the input's."""
        e = torch.minimum(self.re[i].quant_weight().scale, self.im[i].quant_weight().scale).detach()
        return e * self.input_scales[i]

    def forward(self, x: C) -> torch.Tensor:
        x = C(self.inp(x.re), self.inp(x.im))
        last = len(self.re) - 1
        for i in range(len(self.re)):
            s_acc = self.accumulator_scale(i).to(x.re.dtype)
            re = self.re[i](x.re) - self.im[i](x.im) + round_ste(self.b_re[i].to(x.re.dtype) / s_acc) * s_acc
            if i == last:
                return self.out(re)[..., 0]
            im = self.re[i](x.im) + self.im[i](x.re) + round_ste(self.b_im[i].to(x.re.dtype) / s_acc) * s_acc
            x = C(self.acts[i](re), self.acts[i](im))  # eq. (47), 8-bit
        raise AssertionError("unreachable")

    def float_arrays(self, prefix: str) -> dict[str, torch.Tensor]:
        """The weights in :class:`StepNet`'s layout (``prefix + "layers.j.w_re"``, ...)."""
        out = {}
        for j in range(len(self.re)):
            p = f"{prefix}layers.{j}."
            out[p + "w_re"], out[p + "w_im"] = self.re[j].weight.detach(), self.im[j].weight.detach()
            out[p + "b_re"] = self.b_re[j].detach()
            if j < len(self.b_im):
                out[p + "b_im"] = self.b_im[j].detach()
        return out


class QuantDeepFP(DeepFP):
    """DeepFP with :class:`QuantStepNet` DNNs and V rounded to ``v_bits``-bit Q1.(v_bits-1)
    words after every layer (STE), built from a trained float network."""

    def __init__(self, float_model: DeepFP, ranges: list[dict[str, Any]], bits: int = DEFAULT_BITS,
                 v_bits: int | None = DEFAULT_V_BITS) -> None:
        super().__init__(float_model.n_layers, float_model.n_tx, float_model.n_streams, float_model.hidden,
                         float_model.n_hidden, step_base=float_model.step_base)
        self.bits = _check_bits("DNN bits", bits, 2, 16)
        if len(ranges) != float_model.n_layers:
            raise ConfigError(f"ranges must hold one entry per layer ({float_model.n_layers})")
        self.ranges = ranges
        self.steps = nn.ModuleList(QuantStepNet(net, bits, r) for net, r in zip(float_model.steps, ranges))
        self.v_bits = None if v_bits is None else _check_bits("V bits", v_bits, 4, 32)
        self.v_quant = None if v_bits is None else FixedPointQuant(FixedPointFormat(v_bits, v_bits - 1, "half_even"))

    def layer(self, i: int, H: C, V: C) -> tuple[C, torch.Tensor]:
        V, step = super().layer(i, H, V)
        if self.v_quant is not None:
            V = C(self.v_quant(V.re), self.v_quant(V.im))
        return V, step

    def settings(self) -> dict[str, Any]:
        """What a model directory's ``quantization`` section records to rebuild this network."""
        return {"bits": self.bits, "v_bits": self.v_bits, "ranges": self.ranges}

    def float_state(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for i, net in enumerate(self.steps):
            out.update(net.float_arrays(f"steps.{i}."))
        return out


def dnn_inputs(model: DeepFP, H: C, V0: C) -> list[C]:
    """What every layer's DNN receives when ``model`` runs from ``V0`` (no autograd), one
    ``[B, L, K, 2 N_t d]`` pair per layer."""
    inputs: list[C] = []
    hooks = [net.register_forward_pre_hook(lambda _m, args: inputs.append(args[0])) for net in model.steps]
    try:
        with torch.no_grad():
            model(H, V0)
    finally:
        for h in hooks:
            h.remove()
    return inputs


def calibrate_ranges(model: DeepFP, H: np.ndarray, seed: int = 0) -> list[dict[str, Any]]:
    """Largest magnitude at every quantization site of every layer's DNN while ``model`` runs
    on channels ``H`` from the seeded random start (float64)."""
    H, _, _ = check_problem(H)
    B, L, K, _, _, Nt = H.shape
    V0 = random_init((B, L, K, Nt, model.n_streams), np.ones(L), seed)
    inputs = dnn_inputs(model.to(torch.float64), to_c(H), to_c(V0))
    ranges = []
    with torch.no_grad():
        for net, x in zip(model.steps, inputs):
            r: dict[str, Any] = {"input": float(torch.maximum(x.re.abs().max(), x.im.abs().max())), "hidden": []}
            for j, layer in enumerate(net.layers):
                x = layer(x)
                if j < len(net.layers) - 1:
                    x = C(torch.relu(x.re), torch.relu(x.im))
                    r["hidden"].append(float(torch.maximum(x.re.max(), x.im.max())))
            r["output"] = float(x.re.abs().max())
            for key in ("input", "output"):
                r[key] = max(r[key], 1e-6)
            r["hidden"] = [max(v, 1e-6) for v in r["hidden"]]
            ranges.append(r)
    return ranges


def quantize_deepfp(model: DeepFP, H_calib: np.ndarray, bits: int = DEFAULT_BITS,
                    v_bits: int | None = DEFAULT_V_BITS, seed: int = 0) -> QuantDeepFP:
    """Calibrate on ``H_calib`` and wrap ``model`` (the starting point of QAT, or PTQ as is)."""
    return QuantDeepFP(model, calibrate_ranges(model, H_calib, seed), bits, v_bits).to(torch.float64)


class StepNets(nn.Module):
    """Every layer's quantized DNN side by side: ``x_re, x_im [L, B, 2 N_t d] -> [L, B]``."""

    def __init__(self, nets: nn.ModuleList) -> None:
        super().__init__()
        self.nets = nets

    def forward(self, x_re: torch.Tensor, x_im: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(C(x_re[i], x_im[i])) for i, net in enumerate(self.nets)])


def export_stepnets_qcdq(qmodel: QuantDeepFP, path: str | os.PathLike, batch: int = 6) -> Path:
    """Write the quantized DNNs as one ONNX graph through Brevitas' QCDQ export: int8
    ``QuantizeLinear``/``DequantizeLinear`` pairs around float ``MatMul``s (float32 I/O
    ``x_re, x_im [L, B, 2 N_t d]``, output ``[L, B]``, dynamic ``B``)."""
    from brevitas.export import export_onnx_qcdq

    path = Path(path)
    net = StepNets(qmodel.steps).to(torch.float32).eval()
    n_in = 2 * qmodel.n_tx * qmodel.n_streams
    x = torch.zeros(qmodel.n_layers, batch, n_in)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx_qcdq(net, args=(x, x), export_path=str(path), input_names=["x_re", "x_im"],
                         output_names=["out"], dynamic_axes={"x_re": {1: "B"}, "x_im": {1: "B"}, "out": {1: "B"}},
                         opset_version=17, dynamo=False)
    qmodel.to(torch.float64)
    return path



def mean_wsr(model: DeepFP, H: np.ndarray, seed: int, batch: int = 100) -> np.ndarray:
    """Per-channel WSR of ``model`` on ``H`` from the seeded random start, float64, ``[B]``."""
    from hbf_edge.families.deepfp.train import wsr_per_channel

    H, _, _ = check_problem(H)
    B, L, K, _, _, Nt = H.shape
    V0 = random_init((B, L, K, Nt, model.n_streams), np.ones(L), seed)
    return wsr_per_channel(model.eval(), H, V0, batch)


def qat_deepfp(model: DeepFP, H_train: np.ndarray, H_val: np.ndarray, epochs: int = 5, lr: float = 1e-3,
               bits: int = DEFAULT_BITS, v_bits: int | None = DEFAULT_V_BITS, batch_size: int = 200, seed: int = 1,
               progress: bool = True) -> tuple[QuantDeepFP, list[dict[str, Any]]]:
    """Calibrate on the training channels, then retrain every weight and bias with the 8-bit
    DNNs and fixed-point V in the loop (Brevitas STEs) on the unsupervised loss (eq. 54);
    ``epochs = 0`` is post-training quantization."""
    from hbf_edge.families.deepfp.train import DeepFPTrainConfig, train_deepfp

    qmodel = quantize_deepfp(model, H_train, bits, v_bits, seed)
    if epochs == 0:
        return qmodel, []
    config = DeepFPTrainConfig(n_layers=model.n_layers, hidden=model.hidden, n_streams=model.n_streams,
                               supervised_epochs=0, unsupervised_epochs=epochs, batch_size=batch_size, lr=lr,
                               seed=seed)
    return train_deepfp(H_train, H_val, config, progress=progress, model=qmodel)


def save_quant_deepfp(qmodel: QuantDeepFP, float_config: Any, quantization: dict[str, Any],
                      path: str | os.PathLike, overwrite: bool = False) -> Path:
    """A model directory in the float layout plus ``quantization`` = :meth:`QuantDeepFP.settings`
    and how it was made."""
    from hbf_edge.modelfiles import write_model_dir

    config = dataclasses.replace(float_config, quantization={**quantization, **qmodel.settings()})
    arrays = {k: v.cpu().numpy() for k, v in qmodel.float_state().items()}
    return write_model_dir(path, config, arrays, overwrite=overwrite)


def load_deepfp(path: str | os.PathLike) -> tuple[DeepFP, Any]:
    """A DeepFP model directory, float or quantized (then a :class:`QuantDeepFP`)."""
    from hbf_edge.modeldir import load_model

    model, config = load_model(path, family="deepfp")
    q = config.quantization
    if q is None:
        return model, config
    try:
        return QuantDeepFP(model, q["ranges"], q["bits"], q["v_bits"]).to(torch.float64), config
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: malformed quantization section: {exc!r}") from exc
