"""Fig. 12 of the JCEHB paper: sum rate against SNR for Q-bit analog phases, PTQ and QAT
(``hbf-edge study quantization`` on a JCEHB model).

For each Q: PTQ rounds the float model's phases; QAT retrains both stages through the phase
quantizer (``epochs`` each, seeded), against the float network given the same retraining
(``float_retrained``; further training alone moves the rate).  Every design is scored on the same held-out slots (one
pilot-noise draw) at every SNR, beside the float network (infinite resolution).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import Say, field
from hbf_edge.families._settings import StudyCommon, check_positive
from hbf_edge.results import stamp, write_result

__all__ = ["JcehbStudy", "run_study"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class JcehbStudy(StudyCommon):
    """``hbf-edge study quantization`` of a JCEHB model: Fig. 12 (PTQ and QAT, Q bits, SNRs)."""

    bits: list[int] = field([1, 2, 3, 4, 5, 6, 7, 8], "phase bits Q to study (default 1..8)", nargs="+")
    snr: list[float] = field([0.0, 5.0, 10.0, 15.0, 20.0], "SNRs in dB (default 0 5 10 15 20)", nargs="+")
    epochs: int = field(10, "QAT epochs of each stage per Q (default 10; 0: PTQ only)")
    count: int = field(500, "held-out channels (default 500)")
    seed: int = field(1, "seed of the QAT channels (default 1)")
    test_seed: int = field(2026, "seed of the held-out channels (default 2026)")

    def validate(self) -> None:
        check_positive(self, "count", "bits")
        if self.epochs < 0:
            raise ConfigError(f"--epochs must be >= 0, got {self.epochs}")


def run_study(s: JcehbStudy, say: Say) -> dict[str, Any]:
    """The sweep (module notes); writes ``study.json`` and ``fig12.png`` into ``s.out``."""
    from hbf_edge._progress import progress_bar
    from hbf_edge.families.jcehb.core import CORE
    from hbf_edge.families.jcehb.evaluate import network_slot
    from hbf_edge.families.jcehb.system import analog, noise_power, pilot_noise, sum_rate
    from hbf_edge.families.jcehb.train import JcehbTrainConfig, train_jcehb
    from hbf_edge.quant.jcehb.qat import QuantJcehbNet, code_model

    model, config = CORE.load(s.model_dir)
    if config.quantization is not None:
        raise ConfigError(f"{s.model_dir} is already quantized; study its float model")
    sizes, fc = CORE.sizes(config), config.family_config
    H = CORE.draw_channels(config, s.count, s.test_seed)
    noise = pilot_noise(s.count, sizes, fc["pilots"], 7)
    H_train, H_val, _ = CORE.training_channels(None, sizes, 500, 100, s.seed)

    def rates(net: Any) -> list[float]:
        W_rf = analog(net.phi_f.detach().numpy(), net.phi_w.detach().numpy())[1]
        out = []
        for snr in s.snr:
            nu = noise_power(snr)
            d = network_slot(net, H, noise, nu)
            out.append(float(np.mean(sum_rate(d["H_eq"], d["F_bb"], d["W_bb"], W_rf, nu))))
        return out

    t0 = time.perf_counter()
    result: dict[str, Any] = {"snr_db": list(s.snr), "bits": list(s.bits), "n_channels": s.count,
                              "trained_at_db": fc["snr_db"], "qat_epochs": s.epochs, "float": rates(model),
                              "ptq": {}, "qat": {}}
    cfg = JcehbTrainConfig(n_pilots=fc["pilots"], n_hb=fc["hb_layers"], pilot_power=fc["pilot_power"],
                           inverse=fc["inverse"], design=fc["design"], epochs_stage1=s.epochs, epochs_stage2=s.epochs,
                           nu=noise_power(fc["snr_db"]), seed=s.seed)
    if s.epochs:  # QAT's reference: the float network given the same retraining
        result["float_retrained"] = rates(train_jcehb(H_train, H_val, sizes, cfg, model=copy.deepcopy(model),
                                                      progress=False)[0])
    for q in progress_bar(s.bits, desc="phase bits", unit="Q", progress=not s.quiet):
        result["ptq"][str(q)] = rates(code_model(QuantJcehbNet(model, q)))
        if s.epochs:
            qnet, _ = train_jcehb(H_train, H_val, sizes, cfg, model=QuantJcehbNet(model, q), progress=False)
            result["qat"][str(q)] = rates(code_model(qnet))
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    at = s.snr.index(fc["snr_db"]) if fc["snr_db"] in s.snr else len(s.snr) // 2
    result["retention_at_db"] = s.snr[at]
    ref = {"ptq": result["float"], "qat": result.get("float_retrained")}
    result["retention"] = {m: {q: v[at] / ref[m][at] for q, v in result[m].items()} for m in ("ptq", "qat")}
    stamp(result, "retention", "jcehb", s.model_dir, method="study: ptq" + (" and qat" if s.epochs else ""))
    write_result(s.out / "study.json", result)
    _plot(result, s.out / "fig12.png")
    say(f"sum rate (bit/s/Hz) at {s.snr[at]:g} dB over {s.count} channels, float {result['float'][at]:.3f}"
        + (f", float retrained as QAT is {result['float_retrained'][at]:.3f}" if s.epochs else "")
        + " (retention: PTQ against the float, QAT against the float retrained):")
    for m in ("ptq", "qat"):
        if result[m]:
            say(f"  {m}: " + ", ".join(f"Q={q} {v[at]:.3f} ({100 * result['retention'][m][q]:.1f} %)"
                                       for q, v in result[m].items()))
    say(f"wrote {s.out / 'study.json'} and fig12.png ({result['wall_seconds']} s)")
    return result


def _plot(result: dict[str, Any], path: Any) -> None:
    from hbf_edge.plots import _save, plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    snrs = result["snr_db"]
    method = "qat" if result["qat"] else "ptq"
    ref = result.get("float_retrained") if method == "qat" else result["float"]
    ax.plot(snrs, ref, "k-", lw=2.5, label="infinite resolution" + (" (retrained alike)" if method == "qat" else ""))
    for q, v in result[method].items():
        ax.plot(snrs, v, "o-", lw=1.2, label=f"Q = {q} ({method.upper()})")
    ax.set(xlabel="SNR (dB)", ylabel="sum rate (bit/s/Hz)", title="JCEHB: Q-bit analog phases (Fig. 12)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
