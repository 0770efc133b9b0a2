"""Sum-rate retention against phase bits: PTQ-round, PTQ-refit and QAT for each Q."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hbf_edge.modeldir import load_model
from hbf_edge.hw.spec import FixedPointFormat
from hbf_edge.training import TrainConfig

from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.quant.upga.evaluate import retention
from hbf_edge.quant.upga.modeldir import save_quantized
from hbf_edge.quant.upga.train import output_xi_for, train_qat

__all__ = ["retention_study"]


def retention_study(
    model_dir: str | os.PathLike, out: str | os.PathLike, phase_bits: list[int], precoder: FixedPointFormat,
    loop: TrainConfig, H_test: np.ndarray, snr_db: list[float], progress: bool = True,
    recipe: Callable[[int], tuple[str, int | None]] = lambda q: ("none", None),
    code_search: dict[str, int] | None = None,
) -> dict[str, Any]:
    """QAT at every Q in ``phase_bits`` (models written to ``out/q<Q>``), each evaluated with
    the PTQ baselines on ``H_test``; returns one record per Q.  ``recipe(Q)`` gives the output
    stage (as in :func:`quant.upga.train.output_xi_for`) and the internal phase bits (as in
    :meth:`hbf_edge.hw.precision.PrecisionConfig.from_bits`) at each Q, ``code_search`` (``{"sweeps", "span"}``) is
    stored in each model directory for the hardware kernel (QAT itself trains without it: the
    search is a non-differentiable stage after the network)."""
    model, config = load_model(model_dir, family="upga")
    out = Path(out)
    rows = []
    for q in phase_bits:
        output_stage, internal_phase_bits = recipe(q)
        precision = PrecisionConfig.from_bits(config.spec, config.n_layers, q, precoder, internal_phase_bits)
        qmodel, qconfig = train_qat(model, config, precision, loop, progress=progress,
                                    output_xi=output_xi_for(output_stage))
        if code_search is not None:
            qconfig.quantization["code_search"] = dict(code_search)
        save_quantized(qmodel, qconfig, out / f"q{q}", overwrite=True)
        rows.append({**retention(model, qmodel, H_test, snr_db), "output_xi": qmodel.output_xi,
                     "output_stage": output_stage, "internal_phase_bits": internal_phase_bits})
    return {"model_dir": str(model_dir), "precoder": precoder.to_dict(), "qat": dataclasses.asdict(loop),
            "snr_db": [float(s) for s in snr_db], "code_search": code_search, "rows": rows}
