"""Sum-rate retention of quantized designs against the float model, on held-out channels."""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import torch

from hbf_edge import cplx
from hbf_edge.baselines import sum_rate_np
from hbf_edge.channels import validate_miso_channels
from hbf_edge.units import snr_db_to_power
from hbf_edge.families.upga.model import UPGA

from hbf_edge.quant.upga.ptq import PTQ_METHODS, ptq_design
from hbf_edge.quant.upga.qat import QuantUPGA

__all__ = ["retention", "quantized_design"]


def quantized_design(qmodel: QuantUPGA, H: np.ndarray, p_t: np.ndarray, noise: np.ndarray,
                     chunk: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes, F (code angles) and true W of the quantized network, in chunks of channels."""
    codes, Fs, Ws = [], [], []
    with torch.no_grad():
        for s in range(0, H.shape[0], chunk):
            out = qmodel.run(cplx.from_complex(torch.from_numpy(H[s : s + chunk])),
                             torch.from_numpy(p_t[s : s + chunk]), torch.from_numpy(noise[s : s + chunk]))
            codes.append(out.codes.numpy())
            Fs.append(cplx.to_complex(out.F).numpy())
            Ws.append(cplx.to_complex(out.W).numpy())
    return np.concatenate(codes), np.concatenate(Fs), np.concatenate(Ws)


def retention(model: UPGA, qmodel: QuantUPGA, H: np.ndarray, snr_db: list[float], noise: float = 1.0,
              designs: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple] | None = None) -> dict[str, Any]:
    """Mean sum rate (bit/s/Hz) of float, PTQ-round, PTQ-refit and the quantized network per
    SNR, and each one's ratio to float (``retention``).

    ``designs(H, p_t, noise) -> (codes, F, W)`` gives the quantized network's designs; default the
    torch network's (:func:`quantized_design`).  The demo passes the integer kernel's, which equal
    them code for code and word for word for a model without a code search (tested), in 0.14
    against 2.2 s per SNR on its 1000 channels (2026-12-07, the 2-core AMD EPYC of family 25
    model 1, ``scratch/s72/retk.py``)."""
    H = validate_miso_channels(H, qmodel.spec.n_antennas, qmodel.spec.n_users, name="evaluation channels")
    spec_out = qmodel.layer_specs[-1]
    B = H.shape[0]
    rates: dict[str, list[float]] = {"float": [], **{f"ptq_{m}": [] for m in PTQ_METHODS}, "quantized": []}
    for snr in snr_db:
        p_t, n = np.full(B, float(snr_db_to_power(snr, noise))), np.full(B, float(noise))
        with torch.no_grad():
            (F, W), _ = model.run(cplx.from_complex(torch.from_numpy(H)), torch.from_numpy(p_t), torch.from_numpy(n))
        rates["float"].append(float(sum_rate_np(H, cplx.to_complex(F).numpy() @ cplx.to_complex(W).numpy(), n).mean()))
        for m in PTQ_METHODS:
            _, Fq, Wq = ptq_design(model, H, p_t, n, spec_out, m)
            rates[f"ptq_{m}"].append(float(sum_rate_np(H, Fq @ Wq, n).mean()))
        _, Fq, Wq = (designs or functools.partial(quantized_design, qmodel))(H, p_t, n)
        rates["quantized"].append(float(sum_rate_np(H, Fq @ Wq, n).mean()))
    return {
        "snr_db": [float(s) for s in snr_db],
        "n_channels": B,
        "phase_bits": spec_out.phase_bits,
        "precoder": spec_out.precoder.to_dict(),
        "sum_rate": rates,
        "retention": {k: [v / f for v, f in zip(vals, rates["float"])] for k, vals in rates.items()},
    }
