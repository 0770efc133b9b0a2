"""Training of the mixed-timescale network (Sec. III-A, spec 2.6) and the SSCA analog design of
the RLS-SSCA baseline (eq. 19-22, spec 2.3).

* **One stage** (Fig. 13): every parameter, phases included, on the stage-2 loss from the start,
  for the epochs of both stages; from a trained model it is the paper's transfer learning
  (fine-tuning all of Upsilon on channels of new statistics, Fig. 15-16).
* **Stage 1** (Fig. 3a): analog phases and HBDUN on the true equivalent channel, loss (9) the
  negative sum rate; **stage 2** (Fig. 3b): phases frozen; pilots, CEDUN and HBDUN on the rate
  of the design from the estimate (12), fresh pilot noise every batch.  The **separate design**
  replaces stage 2 by pilots and CEDUN trained on the NMSE (33) alone, cascaded with stage 1's
  HBDUN.  Each stage keeps its epoch with the best validation loss (epoch 0: where it started).
* **Black box** (Sec. VII-A, :mod:`hbf_edge.families.jcehb.blackbox`): one stage, every
  parameter on the stage-2 loss (the paper: "the loss function of the black-box NN is the
  system sum rate"), for both stages' epochs.
* [C] (spec 5.20): Adam, lr 1e-2 for the phases (radians), 1e-3 for the rest, batch 50,
  validation on a fixed pilot-noise draw, SNR fixed (10 dB).

SSCA (spec 5.19, [C]): ``r_0`` = minus the sum rate, ``rho^t = (t + 1)^-0.6``, ``J`` SCA
iterations on the perfect equivalent channel per step, the DFT beams as the start, ``eta``
picked from a grid by the validation rate of SCA-J.  One stochastic step draws a mini-batch of
channels (10) instead of the paper's single sample: the average gradient of 10 samples per
Python step costs about what one does.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable

import numpy as np
import torch

from hbf_edge._progress import progress_bar
from hbf_edge.errors import ConfigError
from hbf_edge.families.jcehb.baselines import sca
from hbf_edge.families.jcehb.model import JcehbNet, nmse, sum_rate
from hbf_edge.families.jcehb.system import JcehbSizes, dft_phases, pilot_noise

__all__ = ["JcehbTrainConfig", "train_jcehb", "ssca", "SscaState", "dft_start", "SSCA_ETAS", "DESIGNS"]

SSCA_ETAS = (0.3, 1.0, 3.0, 10.0, 30.0)
DESIGNS = ("joint", "separate", "one-stage", "black-box")
_PHASES = ("phi_f", "phi_w")


@dataclasses.dataclass(frozen=True)
class JcehbTrainConfig:
    """Training settings (spec 2.6, 7)."""

    n_pilots: int = 8
    n_hb: int = 3
    pilot_power: str = "per-column"
    inverse: str = "paper"
    design: str = "joint"
    epochs_stage1: int = 20
    epochs_stage2: int = 20
    batch_size: int = 50
    lr_phase: float = 1e-2
    lr: float = 1e-3
    nu: float = 0.1
    seed: int = 0
    track_every: int = 0  # Fig. 16: the validation loss every this many batches as well (0: per epoch only)
    pilot_boost_db: float = 0.0  # the pilots' SNR above the data SNR (system.pilot_noise_power)

    def __post_init__(self) -> None:
        if self.design not in DESIGNS:
            raise ConfigError(f"design must be one of {', '.join(DESIGNS)}, got {self.design!r}")
        for name in ("n_pilots", "n_hb", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.epochs_stage1 < 0 or self.epochs_stage2 < 0 or not (self.lr > 0 and self.lr_phase > 0):
            raise ConfigError("epochs must be >= 0 and learning rates > 0")
        if isinstance(self.track_every, bool) or not isinstance(self.track_every, int) or self.track_every < 0:
            raise ConfigError(f"track_every must be an integer >= 0, got {self.track_every!r}")


def _stage(model: JcehbNet, names: tuple[str, ...], lrs: dict[str, float], epochs: int, n: int, batch: int,
           step_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], val_loss: Callable[[], float],
           rng: np.random.Generator, desc: str, progress: bool, track_every: int = 0,
           tracking: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Adam on the parameters ``names`` (lr per name), keeping the best validation epoch; with
    ``track_every``, the validation loss after every that many batches is appended to
    ``tracking`` as well (batch 0: before the first step)."""
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in names)
    groups = [{"params": [params[k] for k in names if lrs[k] == lr], "lr": lr} for lr in sorted(set(lrs.values()))]
    opt = torch.optim.Adam([g for g in groups if g["params"]])
    best = val_loss()
    best_state = copy.deepcopy(model.state_dict())
    history = [{"stage": desc, "epoch": 0, "loss": None, "val_loss": best}]
    if track_every and tracking is not None:
        tracking.append({"stage": desc, "batch": 0, "val_loss": best})
    steps = 0
    bar = progress_bar(range(epochs), desc=desc, unit="epoch", progress=progress)
    for epoch in bar:
        model.train()  # batch normalisation (the black box) learns its statistics; no-op for the unfolded net
        order = rng.permutation(n)
        losses = []
        for lo in range(0, n, batch):
            idx = torch.from_numpy(order[lo:lo + batch])
            loss = step_loss(idx, torch.from_numpy(rng.integers(0, 2 ** 31, 1)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            steps += 1
            if track_every and tracking is not None and steps % track_every == 0:
                model.eval()
                tracking.append({"stage": desc, "batch": steps, "val_loss": val_loss()})
                model.train()
        model.eval()
        record = {"stage": desc, "epoch": epoch + 1, "loss": float(np.mean(losses)), "val_loss": val_loss()}
        history.append(record)
        if record["val_loss"] < best:
            best, best_state = record["val_loss"], copy.deepcopy(model.state_dict())
        bar.set_postfix(val=f"{record['val_loss']:.4g}")
    model.load_state_dict(best_state)
    for p in params.values():
        p.requires_grad_(True)
    return history


def train_jcehb(H_train: np.ndarray, H_val: np.ndarray, sizes: JcehbSizes, config: JcehbTrainConfig,
                phases: tuple[np.ndarray, np.ndarray] | None = None, model: JcehbNet | None = None,
                progress: bool = True, tracking: list[dict[str, Any]] | None = None,
                slot_hook: Callable[..., dict[str, torch.Tensor]] | None = None
                ) -> tuple[JcehbNet, list[dict[str, Any]]]:
    """Stage 1, then stage 2 (``joint``) or the NMSE-trained estimator (``separate``), or every
    parameter at once on the stage-2 loss for both stages' epochs (``one-stage``); returns the
    model and the history (validation loss: minus the mean sum rate, or the NMSE).
    ``phases``: where the analog phases start (default: the DFT beams); ``model``: a network to
    continue training instead of a new one (quantization-aware retraining passes its quantized
    network; ``config``'s sizes are then the model's); ``tracking``: receives the validation loss
    every ``config.track_every`` batches (Fig. 16); ``slot_hook(model, H, noise, nu, out) -> out``:
    replaces the network's slot output wherever the pilots are in the loss (stage 2 and the one
    stage; QAT's :func:`~hbf_edge.quant.jcehb.qat.datapath_in_the_loop`)."""
    H_train = sizes.check_channels(H_train, "training channels")
    H_val = sizes.check_channels(H_val, "validation channels")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed + 1)
    if model is None and config.design == "black-box":
        from hbf_edge.families.jcehb.blackbox import JcehbBlackBox

        model = JcehbBlackBox(sizes, config.n_pilots, config.pilot_power, config.pilot_boost_db).eval()
    elif model is None:
        model = JcehbNet(sizes, config.n_pilots, config.n_hb, config.pilot_power, config.inverse,
                         pilot_boost_db=config.pilot_boost_db)
    if phases is not None:
        with torch.no_grad():
            model.phi_f.copy_(torch.from_numpy(phases[0]))
            model.phi_w.copy_(torch.from_numpy(phases[1]))
    Ht, Hv, nu, L = torch.from_numpy(H_train), torch.from_numpy(H_val), config.nu, config.n_pilots
    noise_v = torch.from_numpy(pilot_noise(len(H_val), sizes, L, config.seed + 2))
    names = [k for k, _ in model.named_parameters()]
    hb = tuple(k for k in names if k.startswith("hb_"))
    ce = tuple(k for k in names if k.startswith("ce_")) + ("pilot",)
    dnn = tuple(k for k in names if k.startswith("bb_"))
    lrs = {k: (config.lr_phase if k in _PHASES else config.lr) for k in names}

    def rate_loss(H: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        out = model(H, noise, nu)
        if slot_hook is not None and noise is not None:
            out = slot_hook(model, H, noise, nu, out)
        return -sum_rate(out["H_eq"], out["F_bb"], out["W_bb"], model.analog()[1], nu).mean()

    def fresh(idx: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(pilot_noise(len(idx), sizes, L, int(seed)))

    def nmse_loss(H: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        He = model.equivalent(H).detach()
        return nmse(model.estimate(model.observe(He, noise, nu)), He).mean()

    n, b = len(H_train), config.batch_size
    if config.design in ("one-stage", "black-box"):  # Fig. 13 (transfer learning from a model); the black box
        return model, _stage(model, _PHASES + ce + hb + dnn, lrs, config.epochs_stage1 + config.epochs_stage2, n, b,
                             lambda i, s: rate_loss(Ht[i], fresh(i, s)),
                             lambda: _no_grad(lambda: rate_loss(Hv, noise_v)), rng, "one stage", progress,
                             config.track_every, tracking)
    history = _stage(model, _PHASES + hb, lrs, config.epochs_stage1, n, b, lambda i, s: rate_loss(Ht[i], None),
                     lambda: _no_grad(lambda: rate_loss(Hv, None)), rng, "stage 1", progress,
                     config.track_every, tracking)
    if config.design == "joint":
        history += _stage(model, ce + hb, lrs, config.epochs_stage2, n, b,
                          lambda i, s: rate_loss(Ht[i], fresh(i, s)),
                          lambda: _no_grad(lambda: rate_loss(Hv, noise_v)), rng, "stage 2", progress,
                          config.track_every, tracking)
    else:
        history += _stage(model, ce, lrs, config.epochs_stage2, n, b, lambda i, s: nmse_loss(Ht[i], fresh(i, s)),
                          lambda: _no_grad(lambda: nmse_loss(Hv, noise_v)), rng, "separate CE", progress,
                          config.track_every, tracking)
    return model, history


def _no_grad(fn: Callable[[], torch.Tensor]) -> float:
    with torch.no_grad():
        return float(fn())


def _rate_of_phases(H: np.ndarray, phi_f: torch.Tensor, phi_w: torch.Tensor, sizes: JcehbSizes, nu: float,
                    iterations: int, grad: bool) -> tuple[float, tuple[torch.Tensor, torch.Tensor] | None]:
    """Mean SCA-J sum rate of ``H`` with beams ``phi``; with ``grad``, its gradient in the phases
    with the digital design held fixed (spec 2.3 step 2)."""
    F_rf = torch.exp(1j * phi_f) / np.sqrt(sizes.n_tx)
    W_rf = torch.exp(1j * phi_w) / np.sqrt(sizes.n_rx)
    He = W_rf.conj().transpose(-1, -2)[None] @ torch.from_numpy(H) @ F_rf
    Fn, Wn = sca(He.detach().numpy(), (F_rf.conj().T @ F_rf).detach().numpy(), nu, sizes.n_streams, iterations)
    rate = sum_rate(He, torch.from_numpy(Fn), torch.from_numpy(Wn), W_rf, nu).mean()
    if not grad:
        return float(rate), None
    return float(rate.detach()), torch.autograd.grad(rate, (phi_f, phi_w))


class SscaState:
    """One run of the SSCA recursion (20)-(22) from given beams: the phases, the averaged
    surrogate gradient and the step counter ``t``, so that steps can come as channels arrive
    (the offline design runs them over the training set; the online scheme frame by frame)."""

    def __init__(self, phi_f: torch.Tensor, phi_w: torch.Tensor, sizes: JcehbSizes, nu: float, eta: float,
                 iterations: int) -> None:
        self.phi_f, self.phi_w = phi_f.clone().requires_grad_(True), phi_w.clone().requires_grad_(True)
        self.avg_f, self.avg_w = torch.zeros_like(self.phi_f), torch.zeros_like(self.phi_w)
        self.sizes, self.nu, self.eta, self.iterations, self.t = sizes, nu, eta, iterations, 0

    def step(self, H: np.ndarray) -> None:
        """One stochastic step on the mini-batch ``H`` (its mean gradient)."""
        rho = (self.t + 1) ** -0.6
        _, (g_f, g_w) = _rate_of_phases(H, self.phi_f, self.phi_w, self.sizes, self.nu, self.iterations, True)
        self.avg_f = (1 - rho) * self.avg_f - rho * g_f  # (20) on r_0 = -rate
        self.avg_w = (1 - rho) * self.avg_w - rho * g_w
        with torch.no_grad():  # (22)
            self.phi_f -= self.eta * self.avg_f
            self.phi_w -= self.eta * self.avg_w
        self.t += 1

    def phases(self) -> tuple[np.ndarray, np.ndarray]:
        return self.phi_f.detach().numpy().copy(), self.phi_w.detach().numpy().copy()


def dft_start(sizes: JcehbSizes) -> tuple[torch.Tensor, torch.Tensor]:
    """The DFT beams of the BS and every user, as phases (SSCA's and the network's default start)."""
    return (torch.from_numpy(dft_phases(sizes.n_tx, sizes.n_rf_tx)),
            torch.from_numpy(np.stack([dft_phases(sizes.n_rx, sizes.n_rf_rx)] * sizes.n_users)))


def ssca(H_train: np.ndarray, H_val: np.ndarray, sizes: JcehbSizes, nu: float, iterations: int = 20,
         passes: int = 1, batch: int = 10, etas: tuple[float, ...] = SSCA_ETAS,
         progress: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The SSCA long-term analog design (20)-(22): ``phi_F [N_t, N]``, ``phi_W [K, N_r, R]`` and a
    record (eta chosen, validation rate of SCA-J per eta, the DFT start's)."""
    start_f, start_w = dft_start(sizes)
    start_rate, _ = _rate_of_phases(H_val, start_f, start_w, sizes, nu, iterations, False)
    n_steps = passes * ((len(H_train) + batch - 1) // batch)
    bar = progress_bar(total=len(etas) * n_steps, desc="SSCA analog", unit="step", progress=progress)
    results = {}
    for eta in etas:
        state = SscaState(start_f, start_w, sizes, nu, eta, iterations)
        for _ in range(passes):
            for lo in range(0, len(H_train), batch):
                state.step(H_train[lo:lo + batch])
                bar.update(1)
        rate, _ = _rate_of_phases(H_val, state.phi_f.detach(), state.phi_w.detach(), sizes, nu, iterations, False)
        results[eta] = (rate, *state.phases())
    bar.close()
    eta = max(results, key=lambda e: results[e][0])
    record = {"eta": eta, "iterations": iterations, "passes": passes, "batch": batch,
              "val_rate_dft": start_rate, "val_rate_by_eta": {str(e): r[0] for e, r in results.items()}}
    return results[eta][1], results[eta][2], record
