"""What the MISO families' quant stages share: the QAT loop's settings and their channels."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hbf_edge.families._protocol import field
from hbf_edge.families._settings import QuantCommon, check_positive

__all__ = ["MisoQuant", "qat_loop", "qat_channels", "float_model"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class MisoQuant(QuantCommon):
    """``quantize`` settings of a MISO family (UPGA, UPGANet): the QAT loop's options, which
    :func:`qat_loop` reads."""

    train_size: int = field(500, "QAT training channels (default 500)", qat_only=True)
    batch_size: int = field(10, "channels per Adam step (default 10)", qat_only=True)
    lr: float = field(1e-2, "Adam learning rate, relative to the float steps (default 1e-2)", qat_only=True)
    lr_decay: float = field(0.97, "decay per epoch (default 0.97)", qat_only=True)
    snr_min: float | None = field(None, "lowest QAT training SNR in dB (default: the float model's)", qat_only=True)
    snr_max: float | None = field(None, "highest QAT training SNR in dB (default: the float model's)", qat_only=True)

    def validate(self) -> None:
        super().validate()
        check_positive(self, "train_size", "batch_size")


def qat_loop(config: Any, s: Any, H_train: np.ndarray | None, **changes: Any) -> Any:
    """The :class:`~hbf_edge.training.TrainConfig` of a QAT run: the float model's sizes, the
    quant settings' loop (epochs, batch, learning rate, SNR range, seed), ``H_train``'s size.

    The SNR range is the float model's unless the settings give one: a model trained at one
    SNR keeps its steps there (retrained on another range, they would move to it)."""
    from hbf_edge.families._miso import training_snr_db
    from hbf_edge.training import TrainConfig

    spec = config.spec
    snr_min, snr_max = s.snr_min, s.snr_max
    if snr_min is None or snr_max is None:
        lo, hi = training_snr_db(config)
        snr_min = lo if snr_min is None else snr_min
        snr_max = hi if snr_max is None else snr_max
    values = dict(n_antennas=spec.n_antennas, n_rf=spec.n_rf, n_users=spec.n_users,
                  n_paths=int(config.training.get("n_paths", 10)), n_layers=config.n_layers, n_inner=config.n_inner,
                  train_size=s.train_size if H_train is None else int(H_train.shape[0]), epochs=s.epochs,
                  batch_size=s.batch_size, lr=s.lr, lr_decay=s.lr_decay, snr_db_min=snr_min,
                  snr_db_max=snr_max, seed=s.seed)
    values.update(changes)
    return TrainConfig(**values)


def qat_channels(core: Any, config: Any, s: Any) -> tuple[np.ndarray | None, np.ndarray]:
    """QAT's training channels (the user's ``--channels``, else None: drawn by the loop) and the
    retention table's held-out ones (``--test-channels``, else ``count`` fresh ones)."""
    H_train = None if s.channels is None else core.read_channels(s.channels, config)
    if s.test_channels is not None:
        return H_train, core.read_channels(s.test_channels, config)
    return H_train, core.draw_channels(config, s.count, s.test_seed)


def float_model(s: Any, family: str) -> tuple[Any, Any]:
    """The float network and ModelConfig that ``quantize`` starts from; refuses, before any
    work, a directory that is already quantized and an existing ``--out`` without ``--overwrite``."""
    from hbf_edge.errors import ConfigError, ModelDirError
    from hbf_edge.modeldir import load_model

    model, config = load_model(s.model_dir, family=family)
    if config.precision is not None or config.quantization is not None:
        raise ConfigError(f"{s.model_dir} is already quantized; quantize its float model")
    if s.out.exists() and not s.overwrite:
        raise ModelDirError(f"{s.out} already exists (pass --overwrite to replace it)")
    return model, config
