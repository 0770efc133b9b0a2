"""The quant stage of UPGA: ``hbf-edge quantize`` and ``hbf-edge study quantization``.

QAT (or PTQ) at Q phase bits with the per-layer precision of :mod:`hbf_edge.hw.precision`, the
retention tables against the float model, the PTQ baselines and the hardware kernel (with the
optional output stage and code search).  Settings: :class:`UpgaQuant`, :class:`UpgaStudy`.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families._miso import warn_snrs_outside_training
from hbf_edge.families.upga.config import refuse_snr_steps
from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.families._settings import DEFAULT_TEST_SEED, StudyCommon, check_positive
from hbf_edge.hw.spec import FixedPointFormat
from hbf_edge.results import stamp, write_result
from hbf_edge.quant._core.loop import MisoQuant, float_model, qat_channels, qat_loop
from hbf_edge.quant.upga.sweep import SWEEP

__all__ = ["QUANT", "UpgaQuantStage", "UpgaQuant", "UpgaStudy", "precoder_format"]


# the "auto" recipe (HardwareOptions.recipe)
AUTO_STAGE_MAX_Q = 4
AUTO_INTERNAL_BITS = 8


def precoder_format(bits: int) -> FixedPointFormat:
    """The W word of ``-B bits``: ``bits - 2`` fraction bits (normalised W: entries below 2)."""
    if not 3 <= bits <= 32:
        raise ConfigError(f"--precoder-bits must be in 3..32, got {bits}")
    return FixedPointFormat(bits, bits - 2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HardwareOptions:
    """The hardware datapath after the layers (UPGA)."""

    precoder_bits: int = field(12, "word length of W, B-2 fraction bits (default 12)", flag="-B")
    output_stage: str = field("auto", "W after the last layer: none (the last layer's W), or the transmit Wiener "
                                      "filter / zero forcing on the effective channel of the final codes, its "
                                      "regularisation trained by QAT; auto (default): wiener at Q <= 4, none above "
                                      "(the best measured recipe)", choices=["auto", "none", "wiener", "zf"])
    internal_phase_bits: int | None = field(None, "phase bits of layers 0..I-2, whose codes are the datapath's "
                                                  "internal iterates (default: 8 with an output stage, else Q)",
                                            metavar="BITS")
    code_search: int | None = field(None, "after the last layer, up to SWEEPS passes of coordinate descent over the "
                                          "phase codes scored by the sum rate with the output stage's W (needs "
                                          "--output-stage; default none; 2 is a good choice at Q <= 3)",
                                    metavar="SWEEPS")
    search_span: int = field(1, "codes tried per entry: up to STEPS code steps either side (default 1)",
                             metavar="STEPS")

    def recipe(self, phase_bits: int) -> tuple[str, int | None]:
        """``(output stage, internal phase bits)`` at Q = ``phase_bits``, ``auto`` resolved.

        The rule is the retention study's (README, "Quantization"): at Q <= 4 the Wiener
        output stage with 8-bit internal layers beats PTQ-refit at 10 and 20 dB, where QAT with
        Q bits in every layer and the last layer's W falls below it at 20 dB; above Q = 4 the
        plain network keeps more at 10 dB.  The code search stays opt-in: it costs ~35x the
        network's latency."""
        stage = self.output_stage
        if stage == "auto":
            stage = "wiener" if phase_bits <= AUTO_STAGE_MAX_Q else "none"
        internal = self.internal_phase_bits
        if internal is None and stage != "none" and phase_bits < AUTO_INTERNAL_BITS:
            internal = AUTO_INTERNAL_BITS
        return stage, internal

    def search(self, phase_bits: int | None = None) -> dict[str, int] | None:
        """``code_search`` / ``search_span`` as the model directory's ``code_search``, checked
        (against the output stage at ``phase_bits``; every Q's when None)."""
        if self.code_search is None:
            return None
        from hbf_edge.kernels.upga.hardware import CodeSearch

        for q in ([phase_bits] if phase_bits is not None else self._all_bits()):
            if self.recipe(q)[0] == "none":
                raise ConfigError(f"--code-search scores codes with the output stage's W, which Q={q} does not "
                                  f"have: pass --output-stage wiener or zf")
        return CodeSearch(self.code_search, self.search_span).to_dict()

    def _all_bits(self) -> list[int]:
        bits = self.phase_bits
        return list(bits) if isinstance(bits, list) else [bits]


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpgaQuant(MisoQuant, HardwareOptions):
    """``hbf-edge quantize`` of a UPGA model."""

    phase_bits: int = field(4, "phase-shifter bits Q, 1..8 (default 4)", flag="-Q")
    precision: Path | None = field(None, "precision file (.toml/.json; `hbf-edge precision template` writes one): "
                                         "[default] phase bits and any format, [layers.\"i-j\"] overrides; "
                                         "replaces -Q/-B", metavar="FILE")
    snr: list[float] = field([10.0, 20.0], "SNRs in dB of the retention table (default 10 20)", metavar="DB")

    def validate(self) -> None:
        super().validate()
        if self.precision is not None and self.internal_phase_bits is not None:
            raise ConfigError("--internal-phase-bits and --precision both set the layers' phase bits: use one")
        self.search()


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpgaStudy(StudyCommon, HardwareOptions):
    """``hbf-edge study quantization`` of a UPGA model: QAT at each Q with both PTQ baselines."""

    phase_bits: list[int] = field(list(range(1, 9)), "phase resolutions (default 1..8)", flag="-Q", metavar="Q")
    epochs: int = field(5, "QAT epochs per Q (default 5)")
    lr: float = field(1e-2, "QAT learning rate, relative to the steps (default 1e-2)")
    train_size: int = field(500, "QAT channels (default 500)")
    seed: int = field(1, "QAT seed (default 1)")
    count: int = field(1000, "held-out channels (default 1000)", old="--test-size")
    test_seed: int = field(DEFAULT_TEST_SEED, f"their seed (default {DEFAULT_TEST_SEED})")
    snr: list[float] = field([10.0, 20.0], "SNRs (default 10 20)", metavar="DB")

    def validate(self) -> None:
        super().validate()
        check_positive(self, "phase_bits", "epochs", "train_size", "count")
        self.search()


def _hardware_row(result: dict[str, Any], model: Any, model_dir: Path, H: np.ndarray) -> None:
    """Add the hardware kernel's sum rates (with the model's code search, if any) to a
    retention record as ``hardware``; with a search, also PTQ-refit given the same search
    (``ptq_refit_search``), the baseline the search should be judged against."""
    from hbf_edge.baselines import sum_rate_np
    from hbf_edge.families.upga.hardware import hardware_sum_rates
    from hbf_edge.hw.spec import code_to_phase
    from hbf_edge.kernels.upga.hardware import model_search
    from hbf_edge.quant.upga.modeldir import load_quantized
    from hbf_edge.quant.upga.ptq import ptq_refit_search
    from hbf_edge.units import snr_db_to_power

    rows = {"hardware": hardware_sum_rates(model_dir, H, result["snr_db"])}
    _, config, precision = load_quantized(model_dir)
    search = model_search(config)
    if search is not None:
        last = precision.layer_specs()[-1]
        rows["ptq_refit_search"] = []
        for snr in result["snr_db"]:
            p_t, n = np.full(H.shape[0], float(snr_db_to_power(snr, 1.0))), np.ones(H.shape[0])
            codes, W = ptq_refit_search(model, H, p_t, n, last, search)
            F = np.exp(1j * code_to_phase(codes, last.phase_bits))
            rows["ptq_refit_search"].append(float(sum_rate_np(H, F @ W, n).mean()))
    for name, rates in rows.items():
        result["sum_rate"][name] = rates
        result["retention"][name] = [r / f for r, f in zip(rates, result["sum_rate"]["float"])]


def _warn_if_refit_wins(result: dict[str, Any], s: UpgaQuant, say: Say) -> None:
    """One line when PTQ-refit keeps more than the hardware result at some SNR, with the
    command that does better (the study's best recipe, or adding the code search)."""
    k = result["retention"]
    lost = [snr for i, snr in enumerate(result["snr_db"]) if k["ptq_refit"][i] > k["hardware"][i]]
    if not lost:
        return
    stage = result["recipe"]["output_stage"]
    better = ("--output-stage wiener --internal-phase-bits 8" if stage == "none"
              else f"--output-stage {stage} --code-search 2")
    say(f"warning: PTQ-refit keeps more than this model at {', '.join(f'{x:g}' for x in lost)} dB; "
        f"`hbf-edge quantize {s.model_dir} -Q {s.phase_bits} {better}` does better in the retention study")


class UpgaQuantStage:
    """:class:`~hbf_edge.families._protocol.QuantStage` of UPGA (and of any family that runs on
    its datapath: ``family`` names it)."""

    quant_settings = UpgaQuant
    hardware_exact = True  # QuantUPGA computes the integer datapath op for op
    study_settings = UpgaStudy
    sweep = SWEEP  # hbf-edge sweep

    def __init__(self, family: str = "upga") -> None:
        self.family = family

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """The torch network of a directory: :class:`QuantUPGA` if quantized, else the float UPGA."""
        from hbf_edge.modelfiles import read_model_dir

        if read_model_dir(model_dir)[0].precision is None:
            from hbf_edge.modeldir import load_model

            return load_model(model_dir, family=self.family)
        from hbf_edge.quant.upga.modeldir import load_quantized

        qmodel, config, _ = load_quantized(model_dir)
        return qmodel, config

    def precision_template(self, config: Any, model_dir: Path, phase_bits: int | None) -> str:
        """``hbf-edge precision template``: the directory's precision file, or for a float model
        the uniform one of ``phase_bits`` (default 4; :mod:`hbf_edge.hw.precision`).  A quantized
        directory's file is its own: ``phase_bits`` is refused there, not ignored."""
        from hbf_edge.errors import ConfigError
        from hbf_edge.hw.precision import PrecisionConfig, template_toml

        if config.precision is not None and "default" in config.precision:
            if phase_bits is not None:
                raise ConfigError(f"{model_dir} is quantized: its precision file is its own (phase bits and all); "
                                  "-Q applies to a float model's template")
            precision = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers)
            return template_toml(precision, f"precision of {model_dir} ({config.family}, quantized)")
        phase_bits = 4 if phase_bits is None else phase_bits
        precision = PrecisionConfig.uniform_config(config.spec, config.n_layers, phase_bits)
        return template_toml(precision, f"default precision for {model_dir} ({config.family}, Q={phase_bits})")

    def torch_forward_hw(self, model_dir: Path, H: np.ndarray, snr_db: float = 10.0, noise: float = 1.0
                         ) -> dict[str, np.ndarray]:
        """The quantized torch network (QAT/PTQ) on ``H``: ``codes [B, N, M]``, ``F``, ``W`` -- the
        keys of the kernel stage's ``forward_hw``, which it equals code for code and word for word
        (before the code search, a stage after the network)."""
        from hbf_edge.quant.upga.evaluate import quantized_design
        from hbf_edge.quant.upga.modeldir import load_quantized
        from hbf_edge.units import snr_db_to_power

        qmodel, _, _ = load_quantized(model_dir)
        B = H.shape[0]
        p_t, n = np.full(B, float(snr_db_to_power(snr_db, noise))), np.full(B, float(noise))
        codes, F, W = quantized_design(qmodel, H, p_t, n)
        return {"codes": codes, "F": F, "W": W}

    def quantize(self, s: UpgaQuant, say: Say = log_say) -> dict[str, Any]:
        """QAT or PTQ of a float model into ``s.out``; writes OUT/retention.json."""
        from hbf_edge.families import CORE as CORES

        CORE = CORES.get(self.family)
        from hbf_edge.hw.precision import PrecisionConfig
        from hbf_edge.quant.upga.evaluate import retention
        from hbf_edge.quant.upga.modeldir import load_quantized, save_quantized
        from hbf_edge.quant.upga.qat import QuantUPGA
        from hbf_edge.quant.upga.train import output_xi_for, quantized_config, train_qat

        model, config = float_model(s, self.family)
        refuse_snr_steps(config.family_config, s.model_dir, "quantize takes")
        warn_snrs_outside_training(config, list(s.snr))
        spec = config.spec
        output_stage, internal_bits = s.recipe(s.phase_bits)
        if s.precision is not None:
            precision = PrecisionConfig.load(s.precision, spec.replace(phase_bits=s.phase_bits), config.n_layers)
        else:
            precision = PrecisionConfig.from_bits(spec, config.n_layers, s.phase_bits,
                                                  precoder_format(s.precoder_bits), internal_bits)
        output_xi = output_xi_for(output_stage)
        search = s.search(s.phase_bits)
        H_train, H_test = qat_channels(CORE, config, s)
        t0 = time.perf_counter()
        if s.method == "qat":
            qmodel, qconfig = train_qat(model, config, precision, qat_loop(config, s, H_train), H_train, progress=not s.quiet,
                                        output_xi=output_xi)
        else:
            qmodel = QuantUPGA(precision.layer_specs(), config.n_inner, model.mu.detach(), model.lam.detach(),
                               xi=output_xi)
            qconfig = quantized_config(config, precision, "ptq", {}, [])
        qconfig.quantization["wall_seconds"] = round(time.perf_counter() - t0, 2)
        if search is not None:
            qconfig.quantization["code_search"] = search
        save_quantized(qmodel, qconfig, s.out, overwrite=s.overwrite)
        qmodel, _, _ = load_quantized(s.out)  # evaluate what was written
        result = retention(model, qmodel, H_test, list(s.snr))
        _hardware_row(result, model, s.out, H_test)
        result["recipe"] = {"output_stage": output_stage, "output_stage_option": s.output_stage,
                            "internal_phase_bits": None if s.precision is not None else internal_bits,
                            "precision_file": None if s.precision is None else str(s.precision),
                            "code_search": search}
        stamp(result, "retention", config.family, s.out, method=s.method, output_xi=qmodel.output_xi,
              code_search=search)
        write_result(s.out / "retention.json", result)
        stage = "none" if qmodel.output_xi is None else f"regularised zero forcing, xi = {qmodel.output_xi:.4g}"
        if search is not None:
            stage += f", after a code search of {search['sweeps']} sweep(s), span {search['span']}"
        say(f"{s.method.upper()} in {qconfig.quantization['wall_seconds']} s; model written to {s.out} "
            f"(output stage: {stage})")
        say(f"sum rate (bit/s/Hz) and retention vs float, {result['n_channels']} held-out channels, "
            f"Q={result['phase_bits']} (last layer), W {result['precoder']['word_bits']} bits:")
        cols = ["ptq_round", "ptq_refit"] + (["ptq_refit_search"] if search is not None else []) + ["quantized",
                                                                                                   "hardware"]
        say("SNR dB |   float | " + " | ".join(cols) + "   (quantized: the torch QAT/PTQ model; hardware: the "
            "integer kernel" + (", with the code search)" if search is not None else ")"))
        for i, snr in enumerate(result["snr_db"]):
            r, k = result["sum_rate"], result["retention"]
            say(f"{snr:6g} | {r['float'][i]:7.3f} | " + " | ".join(f"{r[c][i]:7.3f} ({k[c][i]:.1%})" for c in cols))
        _warn_if_refit_wins(result, s, say)
        return result

    def study(self, s: UpgaStudy, say: Say = log_say) -> dict[str, Any]:
        """Retention vs phase bits: PTQ-round, PTQ-refit, QAT and the kernel at each Q."""
        from hbf_edge.families import CORE as CORES

        CORE = CORES.get(self.family)
        from hbf_edge.modeldir import load_model
        from hbf_edge.plots import plot_retention
        from hbf_edge.quant.upga.study import retention_study
        from hbf_edge.training import TrainConfig

        model, config = load_model(s.model_dir, family=self.family)
        refuse_snr_steps(config.family_config, s.model_dir, "the quantization study takes")
        spec = config.spec
        loop = TrainConfig(n_antennas=spec.n_antennas, n_rf=spec.n_rf, n_users=spec.n_users,
                           n_paths=int(config.training.get("n_paths", 10)), n_layers=config.n_layers,
                           n_inner=config.n_inner, train_size=s.train_size, epochs=s.epochs, lr=s.lr, seed=s.seed)
        H = CORE.draw_channels(config, s.count, s.test_seed)
        t0 = time.perf_counter()
        search = s.search()
        result = retention_study(s.model_dir, s.out, list(s.phase_bits), precoder_format(s.precoder_bits), loop, H,
                                 list(s.snr), progress=not s.quiet, recipe=s.recipe, code_search=search)
        for row in result["rows"]:
            _hardware_row(row, model, s.out / f"q{row['phase_bits']}", H)
        result["wall_seconds"] = round(time.perf_counter() - t0, 1)
        write_result(s.out / "retention.json", result)
        plot_retention(result, s.out / "retention.png")
        say("retention vs float UPGA (%), " + ", ".join(f"{x:g} dB" for x in result["snr_db"]) + ":")
        cols = {"ptq_round": "round", "ptq_refit": "refit", "quantized": "QAT", "hardware": "kernel"}
        if search is not None:
            cols.update(ptq_refit_search="refit+s", hardware="QAT+s")
        say(" Q | " + " | ".join(" ".join(f"{c:>7}" for c in cols.values()) for _ in result["snr_db"]))
        for r in result["rows"]:
            k = r["retention"]
            cells = [" ".join(f"{100 * k[c][i]:7.2f}" for c in cols) for i in range(len(result["snr_db"]))]
            say(f"{r['phase_bits']:2d} | " + " | ".join(cells))
        say(f"wrote {s.out / 'retention.json'} and retention.png in {result['wall_seconds']} s")
        return result


QUANT = UpgaQuantStage()
