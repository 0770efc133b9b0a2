"""DeepFP's Numba kernels against its torch network (float or QAT), for ``hbf-edge bench``."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from hbf_edge.families.deepfp.evaluate import timed_batches
from hbf_edge.families.deepfp.model import to_c
from hbf_edge.families.deepfp.wsr import check_problem, random_init, weighted_sum_rate
from hbf_edge.quant.deepfp.qat import load_deepfp as load_torch

__all__ = ["kernel_agreement"]


def kernel_agreement(model_dir: Any, H: np.ndarray, seed: int = 2026, batch: int = 100) -> dict[str, Any]:
    """The Numba kernels against the torch network on channels ``H`` from the seeded random start.

    A float model: the float kernel's V against torch float64 (largest entry difference, mean
    WSR of both).  A quantized model: the hardware kernel (integer DNNs, fixed-point V) against
    the QAT model -- the fraction of equal step codes and V words, and both mean WSRs.  Both:
    wall seconds per network of torch (float64, eager, batches of ``batch``) and of each kernel
    (the whole set in one call, after a warm-up call).
    """
    from hbf_edge.kernels.deepfp.forward import deepfp_forward, load_deepfp
    from hbf_edge.kernels.deepfp.hardware import deepfp_forward_hw, int_dnn

    model, _ = load_torch(model_dir)
    kmodel = load_deepfp(model_dir)
    H, _, _ = check_problem(H)
    B, L, K, _, _, Nt = H.shape
    V0 = random_init((B, L, K, Nt, model.n_streams), np.ones(L), seed)
    hr, hi, vr, vi = (np.ascontiguousarray(a) for a in (H.real, H.imag, V0.real, V0.imag))
    quantized = kmodel.quantization is not None
    outs: list[np.ndarray] = []
    hooks = [net.out.register_forward_hook(lambda _m, _a, o: outs.append(o.detach().numpy()[..., 0]))
             for net in model.steps] if quantized else []
    Vt = np.empty(V0.shape, complex)
    t0 = time.perf_counter()
    with torch.no_grad():
        for sl in timed_batches(B, batch):
            V, _ = model(to_c(H[sl]), to_c(V0[sl]))
            Vt[sl] = V.re.numpy() + 1j * V.im.numpy()
    torch_s = (time.perf_counter() - t0) / B
    for h in hooks:
        h.remove()
    result: dict[str, Any] = {"model_dir": str(model_dir), "n_networks": B, "quantized": quantized,
                              "torch_wsr": float(weighted_sum_rate(H, Vt).mean()),
                              "torch_float64_s_per_network": torch_s}
    if quantized:
        dnn = int_dnn(kmodel)
        deepfp_forward_hw(hr[:1], hi[:1], vr[:1], vi[:1], kmodel, dnn=dnn)  # warm-up (compile or load the cache)
        t0 = time.perf_counter()
        r = deepfp_forward_hw(hr, hi, vr, vi, kmodel, dnn=dnn)
        result["kernel_s_per_network"] = (time.perf_counter() - t0) / B
        n_l = model.n_layers
        qat_codes = np.concatenate([np.stack([np.rint(outs[i * n_l + j] / dnn.s_out[j]) for j in range(n_l)], axis=1)
                                    for i in range(len(outs) // n_l)])
        words = np.rint(Vt * 2.0 ** r.v_frac)
        result.update({"kernel": "numba_hardware", "kernel_wsr": float(weighted_sum_rate(H, r.v).mean()),
                       "step_codes_equal": float(np.mean(qat_codes == r.step_codes)),
                       "v_words_equal": float(np.mean(np.concatenate([(words.real == r.v_code_re).ravel(),
                                                                       (words.imag == r.v_code_im).ravel()]))),
                       "saturations": r.counters})
    else:
        deepfp_forward(hr[:1], hi[:1], vr[:1], vi[:1], kmodel)
        t0 = time.perf_counter()
        kr, ki, _ = deepfp_forward(hr, hi, vr, vi, kmodel)
        result["kernel_s_per_network"] = (time.perf_counter() - t0) / B
        Vk = kr + 1j * ki
        result.update({"kernel": "numba_float64", "kernel_wsr": float(weighted_sum_rate(H, Vk).mean()),
                       "max_abs_v_difference": float(np.abs(Vk - Vt).max())})
    result["relative_wsr_difference"] = abs(result["kernel_wsr"] / result["torch_wsr"] - 1.0)
    result["speedup_over_torch"] = result["torch_float64_s_per_network"] / result["kernel_s_per_network"]
    return result
