"""Two-stage training of DeepFP (``deepfp.txt`` Section IV-D and V-A).

Stage 1 is supervised: the MSE between the network's last output and the FastFP solution from
the same random start (eq. 53; FastFP with lambda_max, ``fastfp_iterations`` iterations).
Stage 2 is unsupervised: ``-WSR / (K L)`` of the last output (eq. 54).  Adam at ``lr`` (5e-3 in
the paper), halved when the validation WSR stops improving (``ReduceLROnPlateau``; the paper
says the validation set "is used to adjust the learning rate"), batch 200.  Every random start
is drawn once per sample from ``seed`` (Section IV-D), so runs are reproducible.

The validation WSR of the unsupervised stage is noisy from epoch to epoch (the Table I run of
``--step-base exact`` peaked at 17.878 in epoch 4 and ended at 17.593 in epoch 6), so by default
the trainer returns the parameters of the epoch with the best validation WSR (``keep="best"``);
``keep="last"`` returns the final ones.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from hbf_edge._progress import progress_bar

from hbf_edge.families.deepfp.model import DeepFP, to_c, wsr_t
from hbf_edge.errors import ConfigError
from hbf_edge.modelfiles import ModelConfig
from hbf_edge.families.deepfp.network import NetworkConfig
from hbf_edge.hw.spec import HardwareSpec
from hbf_edge.families.deepfp.solvers import solve
from hbf_edge.families.deepfp.wsr import check_problem, random_init

__all__ = ["DeepFPTrainConfig", "train_deepfp", "fastfp_labels", "deepfp_model_config", "wsr_per_channel",
           "kept_epoch"]


@dataclasses.dataclass(frozen=True)
class DeepFPTrainConfig:
    n_layers: int = 8
    hidden: int = 64
    n_streams: int = 2
    supervised_epochs: int = 10
    unsupervised_epochs: int = 20
    batch_size: int = 200
    lr: float = 5e-3
    fastfp_iterations: int = 100
    seed: int = 0
    precision: str = "float32"  # about 5x faster per step than float64 on CPU (README); evaluation runs in float64
    step_base: str = "frobenius"  # what the DNN's exp(out) scales (hbf_edge.families.deepfp.model.DeepFP)
    keep: str = "best"  # which epoch's parameters train_deepfp returns: best validation WSR, or the last

    def __post_init__(self) -> None:
        for name in ("n_layers", "hidden", "n_streams", "batch_size", "fastfp_iterations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        for name in ("supervised_epochs", "unsupervised_epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"{name} must be an integer >= 0, got {v!r}")
        if self.supervised_epochs + self.unsupervised_epochs == 0:
            raise ConfigError("training needs at least one epoch (supervised or unsupervised)")
        if not (np.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        if self.precision not in ("float32", "float64"):
            raise ConfigError(f"precision must be float32 or float64, got {self.precision!r}")
        if self.keep not in ("best", "last"):
            raise ConfigError(f"keep must be best or last, got {self.keep!r}")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32 if self.precision == "float32" else torch.float64


def fastfp_labels(H: np.ndarray, V0: np.ndarray, iterations: int) -> np.ndarray:
    """The supervision target of eq. (53): FastFP (lambda_max) from ``V0``, in batches."""
    out = np.empty_like(V0)
    for start in range(0, H.shape[0], 50):
        sl = slice(start, start + 50)
        out[sl] = solve(H[sl], "fastfp", iterations, V0=V0[sl])["V"]
    return out


def _wsr_t(model: DeepFP, H: np.ndarray, V0: np.ndarray, batch: int, dtype: torch.dtype) -> torch.Tensor:
    model = model.to(dtype)
    with torch.no_grad():
        return torch.cat([wsr_t(to_c(H[s:s + batch], dtype), model(to_c(H[s:s + batch], dtype),
                                                                   to_c(V0[s:s + batch], dtype))[0])
                          for s in range(0, H.shape[0], batch)])


def wsr_per_channel(model: DeepFP, H: np.ndarray, V0: np.ndarray, batch: int = 100,
                    dtype: torch.dtype = torch.float64) -> np.ndarray:
    """WSR of ``model`` from ``V0`` on every channel of ``H``, without autograd, ``[B]``."""
    return _wsr_t(model, H, V0, batch, dtype).double().numpy()


def _mean_wsr(model: DeepFP, H: np.ndarray, V0: np.ndarray, batch: int, dtype: torch.dtype = torch.float64) -> float:
    return float(_wsr_t(model, H, V0, batch, dtype).mean())


def train_deepfp(H_train: np.ndarray, H_val: np.ndarray, config: DeepFPTrainConfig, progress: bool = True,
                 model: DeepFP | None = None) -> tuple[DeepFP, list[dict[str, Any]]]:
    """Train a DeepFP network on channels ``[B, L, K, L, N_r, N_t]`` (dataset units), from a
    fresh network or from ``model`` (fine-tuning, e.g. quantization-aware retraining).

    Returns the network and the history: one dict per epoch with ``stage``, ``loss``,
    ``val_wsr`` (mean over the validation channels, bit/s/Hz), ``lr`` and ``kept`` (true for the
    one epoch whose parameters are returned, see ``config.keep``).
    """
    H_train, _, _ = check_problem(H_train)
    H_val, _, _ = check_problem(H_val)
    B, L, K, _, Nr, Nt = H_train.shape
    if config.n_streams > Nr or H_val.shape[1:] != H_train.shape[1:]:
        raise ConfigError("d must be <= N_r and the validation channels must have the training sizes")
    shape = (B, L, K, Nt, config.n_streams)
    V0 = random_init(shape, np.ones(L), config.seed)
    V0_val = random_init((H_val.shape[0],) + shape[1:], np.ones(L), config.seed + 1)
    torch.manual_seed(config.seed)
    if model is None:
        model = DeepFP(config.n_layers, Nt, config.n_streams, config.hidden, seed=config.seed,
                       step_base=config.step_base)
    elif (model.n_layers, model.n_streams) != (config.n_layers, config.n_streams) or model.n_tx < Nt:
        raise ConfigError("the network to fine-tune does not fit the training config and channels")
    model = model.to(config.dtype)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=4)
    labels = fastfp_labels(H_train, V0, config.fastfp_iterations) if config.supervised_epochs else None
    rng = np.random.default_rng(config.seed)
    history: list[dict[str, Any]] = []
    stages = ["supervised"] * config.supervised_epochs + ["unsupervised"] * config.unsupervised_epochs
    best_val, best_state, kept = -np.inf, None, 0
    bar = progress_bar(stages, desc=f"train {type(model).__name__}", unit="epoch", progress=progress)
    for epoch, stage in enumerate(bar, start=1):
        order = rng.permutation(B)
        total = 0.0
        for s in range(0, B, config.batch_size):
            idx = order[s:s + config.batch_size]
            Hb = to_c(H_train[idx], config.dtype)
            out, _ = model(Hb, to_c(V0[idx], config.dtype))
            if stage == "supervised":
                lab = to_c(labels[idx], config.dtype)
                loss = ((out.re - lab.re) ** 2 + (out.im - lab.im) ** 2).sum(dim=(3, 4)).mean()  # eq. (53)
            else:
                loss = -wsr_t(Hb, out).mean() / (K * L)  # eq. (54)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        val = _mean_wsr(model, H_val, V0_val, config.batch_size, config.dtype)
        sched.step(val)
        history.append({"epoch": epoch, "stage": stage, "loss": total / B, "val_wsr": val,
                        "lr": opt.param_groups[0]["lr"], "kept": False})
        if config.keep == "last" or val > best_val:  # a NaN validation WSR is never kept as best
            best_val, best_state = val, {k: v.detach().clone() for k, v in model.state_dict().items()}
            kept = epoch
        bar.set_postfix(stage=stage[:3], val_wsr=f"{val:.3f}")
    if best_state is not None:
        model.load_state_dict(best_state)
        history[kept - 1]["kept"] = True
    return model.to(torch.float64), history


def kept_epoch(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The history entry of the epoch whose parameters :func:`train_deepfp` returned (older model
    directories, trained before ``keep`` existed, kept the last one)."""
    if not history:
        raise ConfigError("an empty training history has no kept epoch")
    return next((h for h in history if h.get("kept")), history[-1])


def deepfp_model_config(model: DeepFP, network: NetworkConfig, training: dict[str, Any],
                        history: list[dict[str, Any]]) -> ModelConfig:
    """The model-directory config of a DeepFP network trained on ``network``'s channels: a fully
    digital spec (``N = M = N_t``, ``K`` users per cell, no phase shifters)."""
    spec = HardwareSpec(n_antennas=network.n_tx, n_rf=network.n_tx, n_users=network.n_users, phase_bits=None)
    section = {"network": network.to_dict(), "n_tx": model.n_tx, "n_streams": model.n_streams,
               "hidden": model.hidden, "n_hidden": model.n_hidden, "step_base": model.step_base}
    return ModelConfig("deepfp", spec, model.n_layers, 1, training=training, history=history, family_config=section)
