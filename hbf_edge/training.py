"""Unsupervised training of the unfolded PGA network (paper Section III-B1).

Loss ``-mean sum rate`` of the last layer's ``(F_I, W_I)``; Adam, learning rate decayed
exponentially per epoch; every training sample draws its own SNR (``P_t``, with
``sigma_n^2 = 1``) uniformly in dB over a range, so one model serves all SNRs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from hbf_edge._progress import progress_bar

from hbf_edge import cplx
from hbf_edge.channels import CHANNEL_SCALES, channel_gain_db, saleh_valenzuela_miso, validate_miso_channels
from hbf_edge.units import snr_db_to_power
from hbf_edge.errors import ConfigError
from hbf_edge.modelfiles import ModelConfig
from hbf_edge.objectives import sum_rate
from hbf_edge.dtypes import resolve_precision, torch_dtype
from hbf_edge.hw.spec import HardwareSpec
from hbf_edge.families.upga.model import PGA_LAMBDA0, PGA_MU0, UPGA

if TYPE_CHECKING:
    from hbf_edge.families.upga.snr_steps import SnrLaw
    from hbf_edge.families.upganet.sensing import SensingScenario

__all__ = ["TrainConfig", "fit", "train_upga", "train_upganet", "step_groups", "LAYER_LOSSES", "STEP_RULES",
           "SNR_STEP_LAWS"]

# "last": the paper's loss, -R(F_I, W_I) only.  "uniform": -mean_i R(F_i, W_i) over layers
# 1..I, which also rewards a good rate at every intermediate layer, so the network can be
# truncated (the paper's Fig. 2a reads the layer-by-layer curve of one trained model).
# "ramp": layer i weighs i (the last layer most), between the two.
LAYER_LOSSES = ("last", "uniform", "ramp")
# How the step sizes learn.  "relative": each kind of step (mu, lambda) learns at ``lr`` times
# its initial value per Adam step and is projected onto >= 0 after every step, so no layer can
# learn to step against its gradient (a negative lambda made UPGA's layers go backwards on
# channels of another scale, issue 19).  "absolute": ``lr`` as is, unconstrained (release 0.1).
STEP_RULES = ("relative", "absolute")
# How the step sizes depend on the SNR (UPGA only; hbf_edge.families.upga.snr_steps).  "shared":
# one set for every SNR (the paper's).  "log-affine": each step times exp(slope (SNR - the middle
# of the training range) / 10 dB).  "table": the steps at each of ``snr_knots`` free, their
# logarithms interpolated in between.  The log-gains learn at SNR_LR times ``lr``: 0.01 per Adam
# step at lr 1.  At 0.1, a table trained at one SNR (--snr-min 12 --snr-max 12 --lr 1) grew its
# knot's steps e^0.1 per step while the gradient asked for longer steps and collapsed within the
# first epoch (its ramp loss -8.6 against -29.6 with shared steps, 2026-12-06): a log-gain compounds
# where the relative rule's steps grow by a fixed amount per step.
SNR_STEP_LAWS = ("shared", "log-affine", "table")
SNR_LR = 0.01


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (defaults: the paper's, at the embedded size N=64)."""

    n_antennas: int = 64
    n_rf: int = 4
    n_users: int = 4
    n_paths: int = 10
    channel_scale: str = "paper"
    n_layers: int = 10
    n_inner: int = 1
    train_size: int = 500
    epochs: int = 20
    batch_size: int = 10
    lr: float = 0.1  # relative (steps="relative"); release 0.1 trained UPGA with 1e-3 absolute
    lr_decay: float = 0.97
    snr_db_min: float = -10.0
    snr_db_max: float = 20.0
    mu0: float = PGA_MU0
    lambda0: float = PGA_LAMBDA0
    seed: int = 0
    precision: str = "float64"
    layer_loss: str = "uniform"
    steps: str = "relative"
    refine_above_start: float | None = None  # UPGA: margin of the full-batch finish (families/upga/refine.py)
    refine_snrs: tuple[float, ...] | None = None  # UPGA: the finish's SNRs (dB), each curve kept above its start
    refine_between: int = 0  # UPGA: SNRs the finish also scores between each two neighbouring refine_snrs
    snr_steps: str = "shared"  # UPGA: SNR_STEP_LAWS
    snr_knots: tuple[float, ...] | None = None  # UPGA, snr_steps="table": the knots (dB; default refine_snrs)

    def __post_init__(self) -> None:
        HardwareSpec(self.n_antennas, self.n_rf, self.n_users, None)  # validates the sizes
        for name in ("n_paths", "n_layers", "n_inner", "train_size", "epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay must be in (0, 1], got {self.lr_decay!r}")
        if not (math.isfinite(self.snr_db_min) and math.isfinite(self.snr_db_max)):
            raise ConfigError("the SNR range must be finite")
        if self.snr_db_min > self.snr_db_max:
            raise ConfigError(f"snr_db_min ({self.snr_db_min}) > snr_db_max ({self.snr_db_max})")
        resolve_precision(self.precision)
        if self.layer_loss not in LAYER_LOSSES:
            raise ConfigError(f"layer_loss must be one of {LAYER_LOSSES}, got {self.layer_loss!r}")
        if self.steps not in STEP_RULES:
            raise ConfigError(f"steps must be one of {STEP_RULES}, got {self.steps!r}")
        if self.channel_scale not in CHANNEL_SCALES:
            raise ConfigError(f"channel_scale must be one of {CHANNEL_SCALES}, got {self.channel_scale!r}")
        if self.refine_above_start is not None:
            if not (math.isfinite(self.refine_above_start) and self.refine_above_start >= 0):
                raise ConfigError(f"refine_above_start must be a margin >= 0 bit/s/Hz, got {self.refine_above_start!r}")
            if self.steps != "relative":
                raise ConfigError("refine_above_start needs positive steps (steps='relative')")
        if self.snr_steps not in SNR_STEP_LAWS:
            raise ConfigError(f"snr_steps must be one of {SNR_STEP_LAWS}, got {self.snr_steps!r}")
        if self.snr_knots is not None and self.snr_steps != "table":
            raise ConfigError("snr_knots are the knots of snr_steps='table'")
        self.snr_law  # validates the law's points
        if self.refine_snrs is not None:
            if self.refine_above_start is None:
                raise ConfigError("refine_snrs needs refine_above_start (the SNRs of that finish)")
            if not self.refine_snrs or not all(math.isfinite(x) for x in self.refine_snrs):
                raise ConfigError(f"refine_snrs must be finite dB values, got {self.refine_snrs!r}")
        between = self.refine_between
        if isinstance(between, bool) or not isinstance(between, int) or between < 0:
            raise ConfigError(f"refine_between must be an integer >= 0, got {between!r}")
        if between and len(set(self.refine_snrs or ())) < 2:
            raise ConfigError("refine_between scores SNRs between the finish's: it needs two or more refine_snrs")

    @property
    def snr_law(self) -> "SnrLaw | None":
        """The law of SNR-dependent steps (:mod:`hbf_edge.families.upga.snr_steps`), None if shared:
        log-affine about the middle of the training range; a table on ``snr_knots``, by default the
        finish's SNRs."""
        from hbf_edge.families.upga.snr_steps import SnrLaw

        if self.snr_steps == "shared":
            return None
        if self.snr_steps == "log-affine":
            return SnrLaw("log-affine", ((self.snr_db_min + self.snr_db_max) / 2,))
        knots = self.snr_knots if self.snr_knots is not None else self.refine_snrs
        if knots is None:
            raise ConfigError("snr_steps='table' needs its knots: snr_knots (--snr-knots) or refine_snrs")
        return SnrLaw("table", tuple(sorted(float(x) for x in knots)))

    @property
    def spec(self) -> HardwareSpec:
        """Hardware spec of the float model (infinite phase resolution)."""
        return HardwareSpec(self.n_antennas, self.n_rf, self.n_users, phase_bits=None)


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[cplx.C, torch.Tensor, torch.Tensor], torch.Tensor],
    H_train: np.ndarray,
    config: TrainConfig,
    progress: bool = True,
    desc: str = "train",
    param_groups: list[dict] | None = None,
    nonnegative: tuple[torch.Tensor, ...] = (),
) -> list[dict]:
    """The training loop every network shares (float UPGA, QAT): Adam, exponential decay per
    epoch, a fresh uniform SNR draw (dB) per sample and epoch, shuffled mini-batches.

    Parameters
    ----------
    loss_fn : callable ``(H, p_t, noise) -> scalar``
        The loss of a batch (``H`` a ``C`` pair [b, N, K], powers [b]).
    param_groups : list of dict, optional
        Adam parameter groups with their own learning rates (default: every parameter of
        ``model`` at ``config.lr``).
    nonnegative : tuple of Tensor
        Parameters projected onto ``>= 0`` after every Adam step.

    Returns
    -------
    history : list of {"epoch", "loss", "lr"}
    """
    dtype = torch_dtype(config.precision)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed + 1)  # SNR draws and shuffling, apart from channels
    H_all = cplx.from_complex(torch.from_numpy(H_train).to(torch.complex128))
    H_all = cplx.C(H_all.re.to(dtype), H_all.im.to(dtype))
    opt = torch.optim.Adam(param_groups if param_groups is not None else model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=config.lr_decay)
    n = H_train.shape[0]
    history = []
    bar = progress_bar(range(config.epochs), desc=desc, unit="epoch", progress=progress)
    for epoch in bar:
        order = rng.permutation(n)
        snr = rng.uniform(config.snr_db_min, config.snr_db_max, size=n)
        losses = []
        for start in range(0, n, config.batch_size):
            sel = order[start : start + config.batch_size]
            idx = torch.from_numpy(sel)
            H = cplx.C(H_all.re[idx], H_all.im[idx])
            p_t = torch.from_numpy(snr_db_to_power(snr[sel])).to(dtype)
            loss = loss_fn(H, p_t, torch.ones_like(p_t))
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for p in nonnegative:
                    p.clamp_(min=0.0)
            losses.append(loss.item())
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "lr": sched.get_last_lr()[0]}
        history.append(record)
        sched.step()
        bar.set_postfix(loss=f"{record['loss']:.4f}")
    return history


def train_upga(
    config: TrainConfig, H_train: np.ndarray | None = None, progress: bool = True
) -> tuple[UPGA, ModelConfig]:
    """Train a UPGA network; return it with the :class:`ModelConfig` to save it by.

    Parameters
    ----------
    config : TrainConfig
    H_train : ndarray of complex, [B, N, K], optional
        Training channels; by default ``config.train_size`` Saleh-Valenzuela channels drawn
        with ``config.seed``.
    progress : bool
        Show a progress bar (one tick per epoch, loss in the postfix).
    """
    H_train = _training_channels(config, H_train)
    law = config.snr_law
    model = UPGA(config.n_layers, config.n_inner, config.n_rf, config.mu0, config.lambda0, law)

    def loss_fn(H: cplx.C, p_t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if config.layer_loss == "last":
            (F, W), _ = model.run(H, p_t, noise)
            return -sum_rate(H, F, W, noise).mean()
        _, rates = model.run(H, p_t, noise, trajectory=True)
        return -_layer_mean(torch.stack(rates[1:]), config.layer_loss)

    history = fit(model, loss_fn, H_train, config, progress, desc="train UPGA", **step_groups(model, config))
    if config.refine_above_start is not None:
        from hbf_edge.families.upga.refine import refine_above_start

        history.append(refine_above_start(model, H_train, config, progress))
    steps = None if law is None else {"snr_steps": law.to_section()}
    return model, _model_config("upga", config, history, H_train, steps)


def _layer_mean(rates: torch.Tensor, rule: str) -> torch.Tensor:
    """The mean of ``rates [I, B]`` (layers 1..I, channels) over channels and layers, the
    layers alike (``uniform``) or weighted by their index (``ramp``: layer i weighs
    i / sum(1..I))."""
    if rule == "uniform":
        return rates.mean()
    w = torch.arange(1, rates.shape[0] + 1, dtype=rates.dtype)
    return (w @ rates).mean() / w.sum()


def step_groups(model: torch.nn.Module, config: TrainConfig) -> dict:
    """``fit``'s Adam groups and constraint for ``config.steps`` (see ``STEP_RULES``).

    mu and lambda differ by orders of magnitude (0.01 and 1e-4 for UPGA; module notes of
    :mod:`hbf_edge.families.upganet.model`), so under ``relative`` each kind gets a learning
    rate relative to its initial value: ``config.lr`` is a fraction per step."""
    if config.steps == "absolute":
        return {}
    gains = [p for name, p in model.named_parameters() if name in ("mu_snr", "lam_snr")]
    return {"param_groups": [{"params": [model.mu], "lr": config.lr * config.mu0},
                             {"params": [model.lam], "lr": config.lr * config.lambda0}]
                            + ([{"params": gains, "lr": config.lr * SNR_LR}] if gains else []),
            "nonnegative": (model.mu, model.lam)}


def _training_channels(config: TrainConfig, H_train: np.ndarray | None) -> np.ndarray:
    """The given training channels, validated, or ``config.train_size`` fresh ones (seed ``config.seed``)."""
    if H_train is None:
        H_train = saleh_valenzuela_miso(
            config.train_size, config.n_antennas, config.n_users, config.n_paths, seed=config.seed,
            scale=config.channel_scale)
    return validate_miso_channels(H_train, config.n_antennas, config.n_users, name="training channels")


def _model_config(family: str, config: TrainConfig, history: list[dict], H_train: np.ndarray,
                  family_config: dict | None = None) -> ModelConfig:
    """The ModelConfig of a trained network: its settings and the mean gain of the channels it
    learned on (what ``evaluate``/``quantize``/``export`` compare a user's channels with)."""
    training = {**dataclasses.asdict(config), "channel_gain_db": round(channel_gain_db(H_train), 4)}
    return ModelConfig(family=family, spec=config.spec, n_layers=config.n_layers, n_inner=config.n_inner,
                       training=training, history=history, family_config=family_config)


def train_upganet(
    config: TrainConfig, scenario: "SensingScenario", H_train: np.ndarray | None = None, progress: bool = True,
    psi: tuple[np.ndarray, dict] | None = None,
) -> tuple[torch.nn.Module, ModelConfig]:
    """Train UPGANet (JCAS, ``upganet_jcas.txt`` Section III-B1) with the shared loop.

    Loss eq. (16): ``omega tau - R`` of the last layer (``layer_loss="last"``, the paper's), or
    its mean over layers 1..I (``"uniform"``).  ``Psi_1`` (eq. 4) is solved once, for unit
    power, and stored with the model; ``eta = 1/N`` (eq. 15).  The paper's settings are the
    caller's: P_BS ~ U[0, 12] dB (``snr_db_min/max``).  ``config.lr`` is relative: mu and
    lambda each learn at ``lr`` times their initial value per Adam step.  ``psi``: a given
    unit-power ``Psi_1`` with the record of where it came from (``read_psi``), instead of
    solving eq. (4) -- objectives are only comparable under the same Psi.
    """
    from hbf_edge.families.upganet.model import UPGANet, jcas_objective
    from hbf_edge.families.upganet.sensing import benchmark_covariance

    if config.refine_above_start is not None:
        raise ConfigError("refine_above_start is UPGA's (the sum rate); UPGANet's objective has no such finish")
    if config.snr_steps != "shared":
        raise ConfigError(f"snr_steps={config.snr_steps!r} is UPGA's for now; UPGANet's steps are shared by every SNR")
    H_train = _training_channels(config, H_train)
    if psi is None:
        bench = benchmark_covariance(scenario, config.n_antennas)
        psi1, psi_record = bench.psi, {"method": "projected gradient on Psi = V V^H (hbf_edge.families.upganet.sensing)",
                                       "alpha": bench.alpha, "residual": bench.residual,
                                       "iterations": bench.iterations}
    else:
        psi1, psi_record = psi
    model = UPGANet(config.n_layers, config.n_inner, config.n_rf, psi1, scenario,
                    mu0=config.mu0, lambda0=config.lambda0)

    def loss_fn(H: cplx.C, p_t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        psi1 = model.psi1(H.re.dtype)
        if config.layer_loss == "last":
            (F, W), _ = model.run(H, p_t, noise)
            return -jcas_objective(H, F, W, noise, psi1, p_t, scenario.omega).mean()
        _, objs = model.run(H, p_t, noise, trajectory=True)
        return -_layer_mean(torch.stack(objs[1:]), config.layer_loss)

    history = fit(model, loss_fn, H_train, config, progress, desc="train UPGANet", **step_groups(model, config))
    sensing = {"scenario": scenario.to_dict(), "eta": model.eta, "psi": psi_record}
    return model, _model_config("upganet", config, history, H_train, sensing)
