"""The quant stage of UPGANet: ``hbf-edge quantize`` (QAT or PTQ for Q-bit phases and a B-bit W)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.quant._core.loop import MisoQuant, float_model, qat_channels, qat_loop
from hbf_edge.quant.upganet.sweep import SWEEP
from hbf_edge.results import stamp, write_result

__all__ = ["QUANT", "UpganetQuantStage", "UpganetQuant"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpganetQuant(MisoQuant):
    """``hbf-edge quantize`` of a UPGANet model: Q-bit phases in every layer, a B-bit W out."""

    phase_bits: int = field(4, "phase-shifter bits Q, 1..8 (default 4)", flag="-Q")
    precoder_bits: int = field(12, "word length of W, B-2 fraction bits (default 12)", flag="-B")
    batch_size: int = field(50, "channels per Adam step (default 50)", qat_only=True)
    snr: list[float] = field([0.0, 6.0, 12.0], "SNRs in dB of the retention table (default 0 6 12)", metavar="DB")


class UpganetQuantStage:
    """:class:`~hbf_edge.families._protocol.QuantStage` of UPGANet."""

    quant_settings = UpganetQuant
    hardware_exact = False  # QuantUPGANet keeps float gradient arithmetic between its projections
    sweep = SWEEP  # hbf-edge sweep

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """The torch network: :class:`QuantUPGANet` if the directory is quantized, else UPGANet."""
        from hbf_edge.modeldir import load_model
        from hbf_edge.quant.upganet.qat import load_quant_upganet

        model, config = load_model(model_dir, family="upganet")
        return (model if config.precision is None else load_quant_upganet(model, config)), config

    def torch_forward_hw(self, model_dir: Path, H: Any, snr_db: float = 10.0, noise: float = 1.0
                         ) -> dict[str, Any]:
        """The quantized torch network on ``H``: ``codes [B, N, M]``, ``F``, ``W`` (the keys of
        the kernel stage's ``forward_hw``)."""
        import numpy as np
        import torch

        from hbf_edge import cplx
        from hbf_edge.units import snr_db_to_power

        qmodel, _ = self.load(model_dir)
        B = H.shape[0]
        p_t = torch.full((B,), float(snr_db_to_power(snr_db, noise)), dtype=torch.float64)
        with torch.no_grad():
            (F, W), codes, _, _ = qmodel.run_quantized(cplx.from_complex(torch.from_numpy(np.asarray(H))), p_t,
                                                       torch.full((B,), float(noise), dtype=torch.float64))
        return {"codes": codes.numpy(), "F": cplx.to_complex(F).numpy(), "W": cplx.to_complex(W).numpy()}

    def quantize(self, s: UpganetQuant, say: Say = log_say) -> dict[str, Any]:
        """QAT (or PTQ) into ``s.out``; OUT/retention.json (float, PTQ, quantized, kernel: rate, MSE)."""
        from hbf_edge.families.upganet.core import CORE
        from hbf_edge.families.upganet.evaluate import evaluate_upganet_hardware
        from hbf_edge.hw.precision import PrecisionConfig
        from hbf_edge.modelfiles import write_model_dir
        from hbf_edge.quant.upga.stage import precoder_format
        from hbf_edge.quant.upganet.qat import QuantUPGANet, upganet_retention, train_qat_upganet

        model, config = float_model(s, "upganet")
        fmt = precoder_format(s.precoder_bits)
        spec = config.spec
        H_train, H = qat_channels(CORE, config, s)
        t0 = time.perf_counter()
        if s.method == "qat":
            loop = qat_loop(config, s, H_train, layer_loss="last")
            qmodel, qconfig = train_qat_upganet(model, config, s.phase_bits, fmt, loop, H_train,
                                                progress=not s.quiet)
        else:
            qmodel = QuantUPGANet(model, s.phase_bits, fmt)
            qconfig = dataclasses.replace(config, spec=spec.replace(phase_bits=s.phase_bits),
                                          precision=PrecisionConfig.uniform_config(
                                              spec, config.n_layers, s.phase_bits, fmt).to_dict(),
                                          quantization={"method": "ptq"})
        qconfig.quantization["wall_seconds"] = round(time.perf_counter() - t0, 2)
        arrays = {k: getattr(qmodel, k).detach().numpy() for k in ("mu", "lam", "psi_re", "psi_im")}
        write_model_dir(s.out, qconfig, arrays, overwrite=s.overwrite)
        snrs = list(s.snr)
        result = upganet_retention(model, qmodel, H, snrs)
        stamp(result, "retention", config.family, s.out, method=s.method)
        hw = evaluate_upganet_hardware(s.out, H, snrs)
        result["hardware"] = hw  # the bit-accurate kernel on the written model
        result["retention"]["hardware"] = [q / f for q, f in zip(hw["sum_rate"], result["sum_rate"]["float"])]
        result["mse_delta_db"]["hardware"] = [q - f for q, f in zip(hw["mse_db"], result["mse_db"]["float"])]
        write_result(s.out / "retention.json", result)
        say(f"{s.method.upper()} UPGANet Q={s.phase_bits}, W {s.precoder_bits} bits in "
            f"{qconfig.quantization['wall_seconds']} s; model written to {s.out}")
        say(f"{result['n_channels']} held-out channels: sum rate (retention) and beampattern MSE dB (change vs float)")
        say("SNR dB |   float rate, MSE |     PTQ rate, MSE |   {:>5} rate, MSE | hardware kernel rate, MSE"
            .format(s.method.upper()))
        for i, snr in enumerate(result["snr_db"]):
            r = {**result["sum_rate"], "hardware": hw["sum_rate"]}
            d = {**result["mse_db"], "hardware": hw["mse_db"]}
            cells = [f"{r['float'][i]:7.3f}, {d['float'][i]:6.2f}"]
            for m in ("ptq", "qat", "hardware"):
                cells.append(f"{r[m][i]:7.3f} ({result['retention'][m][i]:.1%}), {d[m][i]:6.2f} "
                             f"({result['mse_delta_db'][m][i]:+.2f})")
            say(f"{snr:6g} | " + " | ".join(cells))
        say(f"hardware kernel overflow events: {sum(hw['overflows'])}")
        return result


QUANT = UpganetQuantStage()
