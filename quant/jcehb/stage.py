"""The quant stage of JCEHB: Q-bit analog phase shifters at the BS and the users, by QAT or PTQ
(:mod:`quant.jcehb.qat`), and the word lengths of the integer per-slot datapath
(:mod:`hbf_edge.families.jcehb.formats`), whose sum rate the retention record reports beside the
float network's."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families.jcehb.config import DEFAULT_NOISE_SEED
from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.families._settings import QuantCommon, check_positive, shared_precision_field
from hbf_edge.families.jcehb.formats import JCEHB_FORMATS
from hbf_edge.hw.spec import MAX_PHASE_BITS
from hbf_edge.quant._core.loop import float_model
from hbf_edge.quant.jcehb.study import JcehbStudy
from hbf_edge.results import stamp, write_result

__all__ = ["QUANT", "JcehbQuantStage", "JcehbQuant"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class JcehbQuant(QuantCommon):
    """``hbf-edge quantize`` of a JCEHB model: Q-bit codes for every analog phase shifter (BS
    and users); QAT retrains both stages through the phase quantizer, PTQ rounds the phases."""

    phase_bits: int = field(4, "bits Q of every phase shifter, BS and users (default 4)", flag="-Q")
    train_size: int = field(500, "QAT training channels drawn without --channels (default 500)", qat_only=True)
    val_size: int = field(100, "QAT validation channels (default 100)", qat_only=True)
    batch_size: int = field(50, "channels per Adam step (default 50)", qat_only=True)
    lr: float = field(1e-3, "Adam learning rate of the pilots, CEDUN and HBDUN (default 1e-3)", qat_only=True)
    lr_phase: float = field(1e-2, "Adam learning rate of the analog phases (default 1e-2)", qat_only=True)
    noise_seed: int = field(7, "seed of the held-out slots' pilot noise (default 7)")
    word_bits: int = field(16, "bits of the datapath's words: ADC, pilots, constants, H_hat, F_BB, W_BB (default 16; "
                               "their integer bits stay the defaults)")
    accumulator_bits: int = field(32, "bits of the datapath's accumulator (default 32, 16 of them integer)")
    precision: Path | None = shared_precision_field(JCEHB_FORMATS)
    qat_loss: str = field("network", "what stage 2 of QAT and its choice of epoch score: the quantized torch network's "
                                     "design (default; float digital words), the integer datapath's with the "
                                     "network's gradient straight through (datapath), or the integer datapath's with "
                                     "the gradient through each rounding of its words (words)",
                          choices=["network", "datapath", "words"], qat_only=True)

    def formats(self) -> Any:
        """The datapath formats: those the precision file names, the others of ``word_bits`` and
        ``accumulator_bits`` (the defaults' integer bits kept)."""
        from hbf_edge.families.jcehb.formats import JcehbFormats
        from hbf_edge.hw.precision import shared_formats
        from hbf_edge.hw.spec import FixedPointFormat

        base = JcehbFormats()
        widths = {n: (self.accumulator_bits if n == "accumulator" else self.word_bits) for n in JCEHB_FORMATS}
        out = {}
        for name, width in widths.items():
            f = getattr(base, name)
            frac = width - (f.word_bits - f.frac_bits)
            if not 2 <= width <= 32 or frac < 0:
                raise ConfigError(f"--{'accumulator' if name == 'accumulator' else 'word'}-bits {width} leaves the "
                                  f"{name} format {frac} fraction bits (it keeps {f.word_bits - f.frac_bits} integer "
                                  "bits; words are 2..32 bits)")
            out[name] = FixedPointFormat(width, frac, f.rounding, f.saturate)
        if self.precision is not None:
            out.update(shared_formats(self.precision, JCEHB_FORMATS))
        finest = max(v.frac_bits for k, v in out.items() if k != "accumulator")
        if out["accumulator"].frac_bits < finest:
            raise ConfigError(f"--accumulator-bits {self.accumulator_bits} gives the accumulator "
                              f"{out['accumulator'].frac_bits} fraction bits, fewer than the words' {finest} "
                              f"(--word-bits {self.word_bits}): give --accumulator-bits >= "
                              f"{self.accumulator_bits + finest - out['accumulator'].frac_bits} or fewer --word-bits")
        return JcehbFormats(**out)

    def validate(self) -> None:
        super().validate()
        check_positive(self, "train_size", "val_size", "batch_size")
        if not 1 <= self.phase_bits <= MAX_PHASE_BITS:
            raise ConfigError(f"--phase-bits must be in 1..{MAX_PHASE_BITS}, got {self.phase_bits}")
        if not (self.lr > 0 and self.lr_phase > 0):
            raise ConfigError("--lr and --lr-phase must be > 0")
        self.formats()


class JcehbQuantStage:
    """:class:`~hbf_edge.families._protocol.QuantStage` of JCEHB."""

    quant_settings = JcehbQuant
    study_settings = JcehbStudy
    hardware_exact = True  # torch_forward_hw: the torch model of the integer datapath (quant.jcehb.datapath), word
    # for word the kernel's; QAT trains the float network, or through those words (--qat-loss words)

    def precision_template(self, config: Any, model_dir: Path, phase_bits: int | None) -> str:
        """``hbf-edge precision template``: every format of the datapath (the directory's own
        when it is quantized, else the defaults); no phase bits (``quantize -Q``)."""
        from hbf_edge.families.jcehb.formats import JcehbFormats
        from hbf_edge.hw.precision import shared_formats_toml

        return shared_formats_toml(config, model_dir, phase_bits, JcehbFormats, JCEHB_FORMATS)

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """The network (its phases are code angles when the directory is quantized)."""
        from hbf_edge.families.jcehb.core import CORE

        return CORE.load(model_dir)

    def torch_forward_hw(self, model_dir: Path, H: Any, snr_db: float = 10.0,
                         noise_seed: int = DEFAULT_NOISE_SEED) -> dict[str, Any]:
        """The torch model of the integer datapath (:mod:`quant.jcehb.datapath`) on one slot per
        channel: the received words ``Y`` (the pilots through the codes' beams and the ADC, as
        the kernel stage's), and the ``F_bb_words``, ``W_bb_words`` it designs from them."""
        from hbf_edge.families.jcehb.config import pilot_noise_seeded
        from hbf_edge.kernels.jcehb.hardware import load_jcehb_hw, noise_word, received_words
        from hbf_edge.quant.jcehb.datapath import slot_words

        hw = load_jcehb_hw(model_dir)
        H = np.ascontiguousarray(H, dtype=np.complex128)
        K, Nr = hw.model.sizes[4], hw.model.sizes[2]
        nu = 10.0 ** (-snr_db / 10.0)
        Y, _ = received_words(hw, H, pilot_noise_seeded(H.shape[0], K, Nr, hw.model.n_pilots, noise_seed), nu)
        F, W = slot_words(hw, Y, noise_word(hw, nu))
        return {"Y": Y, "F_bb_words": F, "W_bb_words": W}

    def study(self, s: Any, say: Say = log_say) -> dict[str, Any]:
        """Fig. 12: sum rate against SNR for Q-bit phases, PTQ and QAT (:mod:`quant.jcehb.study`)."""
        from hbf_edge.quant.jcehb.study import run_study

        return run_study(s, say)

    def quantize(self, s: JcehbQuant, say: Say = log_say) -> dict[str, Any]:
        """QAT (or PTQ) of the analog phases into ``s.out``; OUT/retention.json."""
        from hbf_edge.families.jcehb.core import CORE
        from hbf_edge.families.jcehb.evaluate import network_slot
        from hbf_edge.families.jcehb.system import analog, noise_power, pilot_noise, sum_rate
        from hbf_edge.families.jcehb.train import JcehbTrainConfig, train_jcehb
        from hbf_edge.modeldir import save_model
        from hbf_edge.quant.jcehb.qat import QuantJcehbNet, code_model, phase_codes

        model, config = float_model(s, "jcehb")
        sizes, fc = CORE.sizes(config), config.family_config
        if fc["design"] == "black-box":
            raise ConfigError(f"{s.model_dir} holds the black-box network, a comparison in float: quantize covers "
                              "the unfolded network")
        H_test = (CORE.read_channels(s.test_channels, config) if s.test_channels is not None
                  else CORE.draw_channels(config, s.count, s.test_seed))
        nu = noise_power(fc["snr_db"])
        formats = s.formats()  # reads the precision file once
        epochs = 0 if s.method == "ptq" else s.epochs
        t0 = time.perf_counter()
        qnet = QuantJcehbNet(model, s.phase_bits)
        history: list[dict[str, Any]] = []
        train_size, source = 0, None  # PTQ: no training channels
        if epochs:
            H_train, H_val, source = CORE.training_channels(s.channels, sizes, s.train_size, s.val_size, s.seed)
            train_size = int(H_train.shape[0])
            cfg = JcehbTrainConfig(n_pilots=fc["pilots"], n_hb=fc["hb_layers"], pilot_power=fc["pilot_power"],
                                   inverse=fc["inverse"], design=fc["design"], epochs_stage1=epochs,
                                   epochs_stage2=epochs, batch_size=s.batch_size, lr_phase=s.lr_phase, lr=s.lr, nu=nu,
                                   seed=s.seed)
            hook = None
            if s.qat_loss == "datapath":
                from hbf_edge.quant.jcehb.qat import datapath_in_the_loop

                hook = datapath_in_the_loop(fc, formats, s.phase_bits)
            elif s.qat_loss == "words":
                from hbf_edge.quant.jcehb.words import words_in_the_loop

                hook = words_in_the_loop(fc, formats, s.phase_bits)
            qnet, history = train_jcehb(H_train, H_val, sizes, cfg, model=qnet, progress=not s.quiet, slot_hook=hook)
        wall = round(time.perf_counter() - t0, 2)
        stored = code_model(qnet)
        noise = pilot_noise(H_test.shape[0], sizes, fc["pilots"], s.noise_seed)

        def rate(net: Any) -> float:
            out = network_slot(net, H_test, noise, nu)
            W_rf = analog(net.phi_f.detach().numpy(), net.phi_w.detach().numpy())[1]
            return float(np.mean(sum_rate(out["H_eq"], out["F_bb"], out["W_bb"], W_rf, nu)))

        float_rate, quant_rate = rate(model), rate(stored)
        codes = phase_codes(qnet)
        report = {"method": s.method, "phase_bits": s.phase_bits, "epochs": epochs, "lr": s.lr, "lr_phase": s.lr_phase,
                  "train_size": train_size, "channels": source, "test_size": int(H_test.shape[0]),
                  "snr_db": fc["snr_db"], "wall_seconds": wall, "float_sum_rate": float_rate,
                  "quantized_sum_rate": quant_rate, "retention": quant_rate / float_rate,
                  "codes_in_use": {k: int(np.unique(v).size) for k, v in codes.items()}, "history": history}
        if epochs:
            report["qat_loss"] = s.qat_loss
        settings = {k: report[k] for k in ("method", "phase_bits", "epochs", "lr", "train_size", "wall_seconds",
                                           "retention", "qat_loss") if k in report}
        if s.precision is not None:
            settings["precision_file"] = str(s.precision)
        qconfig = dataclasses.replace(config, spec=dataclasses.replace(config.spec, phase_bits=s.phase_bits),
                                      quantization={**settings, "float_model": str(s.model_dir),
                                                    "formats": formats.to_dict()},
                                      history=config.history + history)
        save_model(stored, qconfig, s.out, overwrite=s.overwrite)
        report.update(_hardware_rate(s.out, H_test, fc["snr_db"], s.noise_seed, quant_rate))
        _warn_if_words_lose(report, s, say)
        stamp(report, "retention", config.family, s.out)
        write_result(s.out / "retention.json", report)
        say(f"{s.method} jcehb, {s.phase_bits}-bit phase shifters (BS and users), in {wall} s: sum rate "
            f"{quant_rate:.3f} vs float {float_rate:.3f} bit/s/Hz on {report['test_size']} held-out slots at "
            f"{fc['snr_db']:g} dB ({report['retention']:.2%}); integer datapath {report['hardware_sum_rate']:.3f} "
            f"({report['hardware_retention']:.2%} of the quantized network, {sum(report['counters'].values())} "
            f"saturations); model written to {s.out}")
        return report


def _warn_if_words_lose(report: dict[str, Any], s: JcehbQuant, say: Say) -> None:
    """One line when narrower words (the defaults' integer bits kept) lose more than 1 % in the
    datapath, with the command that advises formats: at 8 bits, integer bits fitted to the
    ranges kept 99.8 % where --word-bits 8 kept 98.1 % (README "JCEHB hardware kernel")."""
    if s.precision is not None or s.word_bits >= 16 or report["hardware_retention"] >= 0.99:
        return
    say(f"warning: --word-bits {s.word_bits} keeps the 16-bit formats' integer bits and the datapath "
        f"{report['hardware_retention']:.2%} of the network; `hbf-edge profile {s.out} --numerical` advises "
        "formats for `--precision`")


def _hardware_rate(model_dir: Path, H: np.ndarray, snr_db: float, noise_seed: int, network_rate: float) -> dict:
    """The integer datapath's sum rate on the held-out slots the network was scored on."""
    from hbf_edge.families.jcehb.system import design_sum_rate, noise_power
    from hbf_edge.kernels.jcehb.stage import KERNELS

    out = KERNELS.forward_hw(model_dir, H, snr_db=snr_db, noise_seed=noise_seed)
    rate = float(np.mean(design_sum_rate(H, out, noise_power(snr_db))))
    return {"hardware_sum_rate": rate, "hardware_retention": rate / network_rate, "counters": out["counters"],
            "formats": out["formats"]}


QUANT = JcehbQuantStage()
