"""The quant stage of MSER: Q-bit phase shifters at the BS and at every user, by QAT or PTQ
(:mod:`quant.mser.qat`), and the word lengths of the integer datapath
(:mod:`hbf_edge.families.mser.formats`), whose SER the retention record reports beside the float
network's and the quantized network's."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.families._settings import QuantCommon, check_positive, shared_precision_field
from hbf_edge.families.mser.config import refuse_candidates, refuse_cnn
from hbf_edge.families.mser.formats import MSER_FORMATS
from hbf_edge.quant._core.loop import float_model
from hbf_edge.results import stamp, write_result

__all__ = ["QUANT", "MserQuantStage", "MserQuant"]

_WORDS = ("channel", "kernel", "precoder", "combiner")  # the formats --word-bits sets


@dataclasses.dataclass(frozen=True, kw_only=True)
class MserQuant(QuantCommon):
    """``hbf-edge quantize`` of an MSER model: Q-bit codes for the BS's phase shifters and every
    user's; QAT retrains the layers on the SER of the quantized design, PTQ rounds the output
    phases; the retention record scores the integer datapath too."""

    phase_bits: int = field(4, "bits Q_BS of the BS's phase shifters (default 4)", flag="-Q")
    ue_phase_bits: int | None = field(None, "bits Q_UE of the users' phase shifters (default: -Q)")
    refit_layers: int = field(8, "digital layers after the rounding to codes, with the last layer's steps: V and W "
                                 "adapt to the codes (default 8)")
    internal_phase_bits: int = field(10, "bits of the cos/sin table inside the layers (default 10)")
    word_bits: int = field(16, "bits of the channel, Gaussian-weight, V and W words (default 16; their integer bits "
                               "stay the defaults)")
    accumulator_bits: int = field(32, "bits of the datapath's accumulator (default 32, 16 of them integer)")
    snr: list[float] = field([5.0, 15.0, 25.0], "SNRs in dB of the retention table (default 5 15 25)", nargs="+")
    train_size: int = field(300, "QAT training channels drawn without --channels (default 300)", qat_only=True)
    val_size: int = field(100, "QAT validation channels (default 100)", qat_only=True)
    batch_size: int = field(20, "channels per Adam step (default 20)", qat_only=True)
    lr: float = field(0.005, "Adam learning rate of QAT (default 0.005)", qat_only=True)
    precision: Path | None = shared_precision_field(MSER_FORMATS)
    qat_loss: str = field("datapath", "what QAT's loss and its choice of epoch score: the integer datapath's design "
                                      "(default; the gradient is the quantized network's, straight through), the "
                                      "quantized torch network's (float words), or the integer datapath's design "
                                      "with the gradient through each rounding of its words (words)",
                          choices=["datapath", "network", "words"], qat_only=True)

    def formats(self) -> Any:
        """The datapath formats of these settings: those the precision file names, the others of
        ``word_bits`` and ``accumulator_bits`` (the defaults' integer bits kept)."""
        from hbf_edge.families.mser.formats import MserFormats
        from hbf_edge.hw.precision import shared_formats
        from hbf_edge.hw.spec import FixedPointFormat

        base = MserFormats()
        out: dict[str, Any] = {}
        for name in (*_WORDS, "accumulator"):
            f = getattr(base, name)
            width = self.accumulator_bits if name == "accumulator" else self.word_bits
            frac = width - (f.word_bits - f.frac_bits)
            if not 2 <= width <= 32 or frac < 0:
                raise ConfigError(f"--{'accumulator' if name == 'accumulator' else 'word'}-bits {width} leaves the "
                                  f"{name} format {frac} fraction bits (it keeps {f.word_bits - f.frac_bits} integer "
                                  "bits; words are 2..32 bits)")
            out[name] = FixedPointFormat(width, frac, f.rounding, f.saturate)
        if self.precision is not None:
            out.update(shared_formats(self.precision, MSER_FORMATS))
        return dataclasses.replace(base, internal_phase_bits=self.internal_phase_bits, **out)

    def validate(self) -> None:
        super().validate()
        check_positive(self, "train_size", "val_size", "batch_size")
        if self.refit_layers < 0:
            raise ConfigError(f"--refit-layers must be >= 0, got {self.refit_layers}")
        for name in ("phase_bits", "ue_phase_bits"):
            q = getattr(self, name)
            if q is not None and not 1 <= q <= 16:
                raise ConfigError(f"--{name.replace('_', '-')} must be in 1..16, got {q}")
        if not self.lr > 0:
            raise ConfigError(f"--lr must be > 0, got {self.lr}")
        self.formats()


class MserQuantStage:
    """:class:`~hbf_edge.families._protocol.QuantStage` of MSER."""

    quant_settings = MserQuant
    hardware_exact = True  # torch_forward_hw: the torch model of the integer datapath (quant.mser.datapath), code
    # for code and word for word the kernel's; QAT itself trains the phases of the float network

    def precision_template(self, config: Any, model_dir: Path, phase_bits: int | None) -> str:
        """``hbf-edge precision template``: every format of the datapath (the directory's own
        when it is quantized, else the defaults); no phase bits (``quantize -Q``)."""
        from hbf_edge.families.mser.formats import MserFormats
        from hbf_edge.hw.precision import shared_formats_toml

        return shared_formats_toml(config, model_dir, phase_bits, MserFormats, MSER_FORMATS)

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """The network; a quantized directory's outputs its Q-bit phases."""
        from hbf_edge.families.mser.core import CORE
        from hbf_edge.quant.mser.qat import QuantMserNet

        model, config = CORE.load(model_dir)
        q = config.quantization
        if q is None:
            return model, config
        refit = int(q.get("refit_layers", 0))  # directories before the refit layers: none
        return QuantMserNet(model, int(config.spec.phase_bits), int(q["ue_phase_bits"]), refit), config

    def torch_forward_hw(self, model_dir: Path, H: Any, snr_db: float = 15.0, start: Any = None) -> dict[str, Any]:
        """The torch model of the integer datapath (:mod:`quant.mser.datapath`) on channels ``H``
        from the words the host gives the datapath (the kernel stage's: the model's start, the
        channel and step factor rounded to words): ``F_codes``, ``U_codes``, ``V_words``, ``W_words``."""
        from hbf_edge.kernels.mser.stage import KERNELS
        from hbf_edge.quant.mser.datapath import design_words

        session = KERNELS.session_hw(Path(model_dir), H, snr_db, start)  # its input words only: never run
        out = design_words(session.hw, session.input_words())
        return {"F_codes": out["F_codes"], "U_codes": out["U_codes"], "V_words": out["V"], "W_words": out["W"]}

    def quantize(self, s: MserQuant, say: Say = log_say) -> dict[str, Any]:
        """QAT (or PTQ) of the output phases into ``s.out``; OUT/retention.json."""
        from hbf_edge.families.mser.core import CORE
        from hbf_edge.families.mser.evaluate import network_design
        from hbf_edge.families.mser.ser import ser_semi_analytic
        from hbf_edge.families.mser.start import design_start
        from hbf_edge.families.mser.system import noise_std
        from hbf_edge.families.mser.train import MserTrainConfig, train_mser
        from hbf_edge.kernels.mser.stage import KERNELS
        from hbf_edge.modeldir import save_model
        from hbf_edge.quant.mser.qat import QuantMserNet

        model, config = float_model(s, "mser")
        refuse_cnn(config.family_config, s.model_dir, "quantize retrains")
        refuse_candidates(config.family_config, s.model_dir, "quantize retrains")
        sizes, fc, tr = CORE.sizes(config), config.family_config, config.training
        q_bs, q_ue = s.phase_bits, s.ue_phase_bits or s.phase_bits
        formats = s.formats()
        H_test = (CORE.read_channels(s.test_channels, config) if s.test_channels is not None
                  else CORE.draw_channels(config, s.count, s.test_seed))
        epochs = 0 if s.method == "ptq" else s.epochs
        t0 = time.perf_counter()
        qnet = QuantMserNet(model, q_bs, q_ue, s.refit_layers)
        history: list[dict[str, Any]] = []
        source = None
        if epochs:
            H_train, H_val, source = CORE.training_channels(s.channels, sizes, s.train_size, s.val_size, s.seed)
            cfg = MserTrainConfig(n_layers=config.n_layers, epochs=epochs, batch_size=s.batch_size, lr=s.lr,
                                  halve_every=max(epochs, 1), snr_db_min=tr["snr_db"][0], snr_db_max=tr["snr_db"][1],
                                  n_samples=fc["samples"], seed=s.seed, step_shape=fc["step_shape"],
                                  offsets=fc["offsets"], loss=tr["loss"], start=fc.get("start"))
            hook = None
            if s.qat_loss != "network":
                from hbf_edge.quant.mser.qat import datapath_in_the_loop
                from hbf_edge.quant.mser.words import words_in_the_loop

                make = datapath_in_the_loop if s.qat_loss == "datapath" else words_in_the_loop
                hook = make(fc, config.n_layers, set(CORE.expected_arrays(config)), formats, q_bs, q_ue,
                            s.refit_layers)
            qnet, history = train_mser(H_train, H_val, sizes, cfg, progress=not s.quiet, model=qnet, design_hook=hook)
        wall = round(time.perf_counter() - t0, 2)
        settings = {"method": s.method, "phase_bits": q_bs, "ue_phase_bits": q_ue, "refit_layers": s.refit_layers,
                    "epochs": epochs, "lr": s.lr, "wall_seconds": wall}
        if epochs:
            settings["qat_loss"] = s.qat_loss
        if s.precision is not None:
            settings["precision_file"] = str(s.precision)
        qconfig = dataclasses.replace(config, spec=dataclasses.replace(config.spec, phase_bits=q_bs),
                                      quantization={**settings, "float_model": str(s.model_dir),
                                                    "formats": formats.to_dict()},
                                      history=config.history + history)
        save_model(qnet, qconfig, s.out, overwrite=s.overwrite)
        rows: dict[str, list[float]] = {"float": [], "quantized": [], "hardware": []}
        counters: dict[str, int] = {}
        for snr in s.snr:
            sigma = float(noise_std(snr))

            def score(d: Any) -> float:
                return float(np.mean(ser_semi_analytic(H_test, *d, sigma, sizes.constellation)))

            d0 = design_start(H_test, sizes, sigma, fc.get("start"))  # one start for the three designs
            rows["float"].append(score(network_design(model, H_test, sizes, snr, d0)))
            rows["quantized"].append(score(network_design(qnet, H_test, sizes, snr, d0)))
            hw = KERNELS.forward_hw(s.out, H_test, snr_db=snr, start=d0)
            rows["hardware"].append(score([hw[k] for k in "FVUW"]))
            for k, v in hw["counters"].items():
                counters[k] = counters.get(k, 0) + v
        report = {**settings, "channels": source, "test_size": int(H_test.shape[0]), "snr_db": [float(x) for x in s.snr],
                  "ser": rows, "ratio_hardware_over_float": [h / f for h, f in zip(rows["hardware"], rows["float"])],
                  "counters": counters, "formats": formats.to_dict(), "history": history}
        stamp(report, "retention", config.family, s.out)
        write_result(s.out / "retention.json", report)
        say(f"{s.method} mser, {q_bs}-bit BS and {q_ue}-bit user phase shifters, {s.refit_layers} refit layers, in "
            f"{wall} s; exact SER on "
            f"{report['test_size']} held-out channels (float network / quantized network / integer datapath):")
        for i, snr in enumerate(s.snr):
            say(f"  {snr:g} dB: {rows['float'][i]:.3e} / {rows['quantized'][i]:.3e} / {rows['hardware'][i]:.3e} "
                f"(datapath / float {report['ratio_hardware_over_float'][i]:.3f})")
        say(f"{sum(counters.values())} saturations in the datapath; model written to {s.out}")
        return report


QUANT = MserQuantStage()
