"""The quant stage of DeepFP: 8-bit step DNNs (Brevitas) and fixed-point V, by QAT or PTQ."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.families._settings import QuantCommon, check_positive
from hbf_edge.quant._core.loop import float_model
from hbf_edge.results import stamp, write_result

__all__ = ["QUANT", "DeepfpQuantStage", "DeepfpQuant"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepfpQuant(QuantCommon):
    """``hbf-edge quantize`` of a DeepFP model: integer step DNNs and a fixed-point V.

    ``--channels`` may be a network dataset (QAT calibrates and trains on its train split,
    validates on its val split and, without ``--test-channels``, measures retention on its test
    split) or a plain array (85/15 in file order); otherwise retention is measured on
    ``--test-channels`` (a dataset: its test split) or on fresh networks.  PTQ calibrates the
    DNNs' activation ranges on the same training networks, so ``--channels``, ``--train-size``
    and ``--seed`` apply to both methods."""

    channels: Path | None = field(None, "training networks, on which PTQ calibrates and QAT calibrates and trains: "
                                        "a dataset or a plain .npy/.npz/.mat array H (default: fresh ones drawn "
                                        "with --seed)")
    seed: int = field(1, "seed of the training networks (default 1)")
    dnn_bits: int = field(8, "DNN weight and activation bits (default 8)")
    v_bits: int = field(16, "word of the beamformer entries, Q1.(b-1) (default 16)")
    train_size: int = field(500, "training networks drawn without --channels (default 500)")
    batch_size: int = field(200, "networks per Adam step (default 200)", qat_only=True)
    lr: float = field(1e-3, "Adam learning rate (default 1e-3)", qat_only=True)

    def validate(self) -> None:
        super().validate()
        check_positive(self, "train_size", "batch_size")


class DeepfpQuantStage:
    """:class:`~hbf_edge.families._protocol.QuantStage` of DeepFP."""

    quant_settings = DeepfpQuant
    hardware_exact = True  # the QAT network equals the hardware mode on its grid

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """The torch network: :class:`QuantDeepFP` if quantized, else the float DeepFP."""
        from hbf_edge.quant.deepfp.qat import load_deepfp

        return load_deepfp(model_dir)

    def torch_forward_hw(self, model_dir: Path, H: Any, seed: int = 2026) -> dict[str, Any]:
        """The QAT network from the seeded start: ``V`` complex128 (the kernel stage's
        ``forward_hw`` key), on its fixed-point grid."""
        from hbf_edge.families.deepfp.core import CORE

        model, _ = self.load(model_dir)
        return CORE.torch_forward(model, H, seed=seed)

    def agreement(self, model_dir: Path, H: Any, seed: int) -> dict[str, Any]:
        """The Numba kernels against the torch network (``hbf-edge bench agreement``)."""
        from hbf_edge.quant.deepfp.agreement import kernel_agreement

        return kernel_agreement(model_dir, H, seed=seed)

    def quantize(self, s: DeepfpQuant, say: Say = log_say) -> dict[str, Any]:
        """QAT (or PTQ) of a float DeepFP model into ``s.out``; OUT/retention.json."""
        from hbf_edge.families.deepfp.core import CORE
        from hbf_edge.quant.deepfp.qat import mean_wsr, qat_deepfp, save_quant_deepfp

        model, config = float_model(s, "deepfp")
        if s.channels is not None and CORE.has_splits(s.channels):
            H_train = CORE.read_channels(s.channels, config, "train")
            H_val = CORE.read_channels(s.channels, config, "val")
        elif s.channels is not None:  # a plain array: 85/15 in file order
            H = CORE.read_channels(s.channels, config)
            n_val = max(1, int(round(0.15 * H.shape[0])))
            if H.shape[0] <= n_val:
                raise ConfigError(f"{s.channels} holds {H.shape[0]} network(s); QAT needs at least 2")
            H_train, H_val = H[:-n_val], H[-n_val:]
        else:
            H_train = CORE.draw_channels(config, s.train_size, s.seed)
            H_val = CORE.draw_channels(config, max(1, s.train_size // 5), s.seed + 1)
        if s.test_channels is not None:
            H_test = CORE.read_channels(s.test_channels, config, "test")
        elif s.channels is not None and CORE.has_splits(s.channels):  # the dataset's own held-out split
            H_test = CORE.read_channels(s.channels, config, "test")
        else:
            H_test = CORE.draw_channels(config, s.count, s.test_seed)
        epochs = 0 if s.method == "ptq" else s.epochs
        t0 = time.perf_counter()
        qmodel, history = qat_deepfp(model, H_train, H_val, epochs, s.lr, s.dnn_bits, s.v_bits, s.batch_size, s.seed,
                                     progress=not s.quiet)
        wall = round(time.perf_counter() - t0, 2)
        float_wsr = mean_wsr(model, H_test, s.test_seed)
        quant_wsr = mean_wsr(qmodel, H_test, s.test_seed)
        report = {"method": s.method, "dnn_bits": s.dnn_bits, "v_bits": s.v_bits,
                  "epochs": epochs, "lr": s.lr, "train_size": int(H_train.shape[0]),
                  "test_size": int(H_test.shape[0]), "wall_seconds": wall, "float_wsr": float(float_wsr.mean()),
                  "quantized_wsr": float(quant_wsr.mean()), "retention": float(quant_wsr.mean() / float_wsr.mean()),
                  "history": history}
        settings = {k: report[k] for k in ("method", "epochs", "lr", "train_size", "wall_seconds", "retention")}
        save_quant_deepfp(qmodel, config, {**settings, "float_model": str(s.model_dir)}, s.out, overwrite=s.overwrite)
        stamp(report, "retention", config.family, s.out)
        write_result(s.out / "retention.json", report)
        say(f"{s.method} deepfp, {s.dnn_bits}-bit DNNs, {s.v_bits}-bit V, in {wall} s: WSR "
            f"{report['quantized_wsr']:.3f} vs float {report['float_wsr']:.3f} bit/s/Hz on {report['test_size']} "
            f"held-out networks ({report['retention']:.2%}); model written to {s.out}")
        return report


QUANT = DeepfpQuantStage()
