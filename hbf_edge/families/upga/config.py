"""UPGA (``upga_multiuser_hbf.txt``): what the family is, and its settings (numpy only).

Defaults are the paper's (Section IV: N=64, M=K=4, P=10 paths, I=10 outer layers, J=1),
except two choices (README, "Measured results"):

* the layer loss: ``uniform`` (mean over all layers) where the paper trains on the final layer
  only -- every layer's output is then a usable design;
* the step rule: ``relative`` (positive steps, each learning at ``lr`` = 10 % of its initial
  value per Adam step) where the paper runs Adam at 1e-3 on the raw steps (``--steps absolute
  --lr 0.001``), which learned negative steps on the authors' channel scale (issue 19).

The channel scale defaults to eq. (2)-(3) as printed (``paper``); ``authors`` is the authors'
generator, 10 log10(N / P) dB stronger.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import FamilySpec, field
from hbf_edge.families._settings import (
    ChannelCommon,
    EvalCommon,
    NumericalProfile,
    ProfileCommon,
    TrainCommon,
    check_positive,
)
from hbf_edge.hw.spec import FORMATS

__all__ = ["SPEC", "COUNTER_SITES", "UpgaChannels", "UpgaTrain", "MisoEval", "UpgaEval", "MisoProfile", "UpgaProfile",
           "DEFAULT_SNRS", "refine_between", "refuse_snr_steps"]

DEFAULT_SNRS = [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]
# overflow-counter sites of the hardware kernel, in counter-column order ("input": the
# quantisation of H and the steps; the rest: kernels/upga/_fixed.py)
COUNTER_SITES = ("input", "init", "G", "E", "power", "reciprocal", "C", "D", "grad_F", "F_update", "grad_W",
                 "W_update", "norm", "W", "output")


def refine_between(s: "UpgaTrain") -> int:
    """``--refine-between``, its default resolved: 2 for a step table finished at two or more
    SNRs, else 0.  Between knots a table's steps are interpolated; scored at its knots alone, a
    layer fell below the start at -5 and 9 dB; with one SNR per gap, at -2.5 dB (-0.004); with
    two, at none of 21 SNRs from -10 to 20 dB (README "The channel scale")."""
    if s.refine_between is not None:
        return s.refine_between
    return 2 if s.snr_steps == "table" and len(set(s.refine_snrs or ())) >= 2 else 0


def refuse_snr_steps(family_config: dict | None, model_dir: object, what: str) -> None:
    """One line when a model directory's steps depend on the SNR (``train upga --snr-steps``),
    which ``what`` does not take yet: the kernels, QAT, the graphs and the bundle
    take one set of steps."""
    if family_config and "snr_steps" in family_config:
        raise ConfigError(f"{model_dir} has SNR-dependent steps (train --snr-steps), which run in torch "
                          f"only for now: {what} a model with shared steps (evaluate takes it)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MisoSizes:
    """The single-cell MISO system (eq. 2-3): N antennas, M RF chains, K users, P paths."""

    n_antennas: int = field(64, "transmit antennas N (default 64)", flag="-N")
    n_users: int = field(4, "single-antenna users K (default 4)", flag="-K")
    paths: int = field(10, "Saleh-Valenzuela paths per user P (default 10)")
    channel_scale: str = field("paper", "paper: E||h_k||^2 = P as eq. (2)-(3) print it (default); authors: "
                                        "E||h_k||^2 = N as the authors' generator, where the papers' SNR axes sit",
                               choices=["paper", "authors"])


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpgaChannels(ChannelCommon, MisoSizes):
    """``hbf-edge channels upga``: Saleh-Valenzuela MISO channels ``[B, N, K]``."""

    def validate(self) -> None:
        super().validate()
        check_positive(self, "n_antennas", "n_users", "paths")


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpgaTrain(TrainCommon, MisoSizes):
    """``hbf-edge train upga``: Algorithm 1 unfolded, trainable mu [I x J] and lambda [I],
    unsupervised on the sum rate (eq. 4) over SNRs drawn from [snr_min, snr_max]."""

    n_rf: int = field(4, "RF chains M, >= K (default 4)", flag="-M")
    layers: int = field(10, "outer layers I (default 10)", flag="-I")
    inner: int = field(1, "F-steps per layer J (default 1)", flag="-J")
    train_size: int = field(500, "training channels (default 500)")
    epochs: int = field(20, "epochs (default 20)")
    batch_size: int = field(10, "channels per Adam step (default 10)")
    lr: float = field(0.1, "Adam learning rate; with --steps relative a fraction of each step's initial value "
                           "(default 0.1)")
    steps: str = field("relative", "relative: mu and lambda each learn relative to their initial value and stay >= 0, "
                                   "so no layer steps against its gradient (default); absolute: --lr as is, "
                                   "unconstrained (release 0.1, learned negative steps off its channel scale)",
                       choices=["relative", "absolute"])
    lr_decay: float = field(0.97, "learning-rate decay per epoch (default 0.97)")
    snr_min: float = field(-10.0, "lowest training SNR in dB (default -10)")
    snr_max: float = field(20.0, "highest training SNR in dB (default 20)")
    mu0: float = field(0.01, "initial F step sizes (default 0.01)")
    lambda0: float = field(1e-4, "initial W step sizes (default 1e-4)")
    layer_loss: str = field("uniform", "uniform: mean over all layers (default; every layer useful); last: "
                                       "the paper's final-layer loss; ramp: layer i weighs i",
                            choices=["uniform", "last", "ramp"])
    refine_above_start: float | None = field(
        None, "after the epochs, refine the steps by full-batch L-BFGS on every training channel: the last layer's "
              "mean rate, each layer's mean kept at least this many bit/s/Hz above the start's (e.g. 0.5 after "
              "--layer-loss ramp; needs --steps relative; default: none)", metavar="MARGIN")
    refine_snrs: list[float] | None = field(
        None, "with --refine-above-start: score every training channel at each of these SNRs and keep each "
              "SNR's layers above its own start (default: one SNR per channel drawn in the training range)",
        nargs="+", metavar="DB")
    refine_between: int | None = field(
        None, "with --refine-snrs: the finish also scores this many evenly spaced SNRs inside each gap between "
              "two of them, in a last pass over every step (default: 2 with --snr-steps table, whose steps are "
              "interpolated there, else 0)", metavar="N")
    snr_steps: str = field("shared", "shared: one set of steps for every SNR (the paper's; default); log-affine: "
                                     "each step times exp(slope (SNR - mid-range) / 10 dB); table: the steps at each "
                                     "of --snr-knots free, interpolated in between (log) -- the slopes or knots "
                                     "trained too (not in the paper; float only for now: train and evaluate)",
                           choices=["shared", "log-affine", "table"])
    snr_knots: list[float] | None = field(None, "--snr-steps table: its knots in dB (default: --refine-snrs)",
                                          nargs="+", metavar="DB")

    def validate(self) -> None:
        super().validate()
        check_positive(self, "n_antennas", "n_users", "paths", "n_rf", "layers", "inner", "train_size", "epochs",
                       "batch_size")
        margin = self.refine_above_start
        if margin is not None and not (math.isfinite(margin) and margin >= 0):
            raise ConfigError(f"--refine-above-start must be a margin >= 0 bit/s/Hz, got {margin}")
        if margin is not None and self.steps != "relative":
            raise ConfigError("--refine-above-start needs positive steps (--steps relative)")
        if self.refine_snrs is not None and margin is None:
            raise ConfigError("--refine-snrs needs --refine-above-start (the SNRs of that finish)")
        if self.refine_snrs is not None and not all(math.isfinite(x) for x in self.refine_snrs):
            raise ConfigError(f"--refine-snrs must be finite dB values, got {self.refine_snrs}")
        if self.snr_knots is not None and self.snr_steps != "table":
            raise ConfigError("--snr-knots are the knots of --snr-steps table")
        if self.refine_between is not None and self.refine_between < 0:
            raise ConfigError(f"--refine-between must be an integer >= 0, got {self.refine_between}")
        if self.refine_between and len(set(self.refine_snrs or ())) < 2:
            raise ConfigError("--refine-between scores SNRs between the finish's: it needs two or more --refine-snrs")
        if self.snr_steps == "table" and self.snr_knots is None and self.refine_snrs is None:
            raise ConfigError("--snr-steps table needs its knots: --snr-knots DB ... (or --refine-snrs)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MisoEval(EvalCommon):
    """Evaluation settings of the MISO families."""

    snr: list[float] = field(DEFAULT_SNRS, "SNRs in dB (default -10 -5 0 5 10 15 20)", metavar="DB")
    noise: float = field(1.0, "noise power sigma_n^2 (default 1)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpgaEval(MisoEval):
    """``hbf-edge evaluate`` of a UPGA model: sum rate vs SNR and vs layers, against PGA-30,
    PGA-100, OMP hybrid and fully digital ZF."""

    dump: Path | None = field(None, "also write channels, SNRs and every method's precoders to this .npz "
                                      "(keys H, snr_db, noise_power, F_<method>, W_<method>, W_zf)")
    rescale_channels: bool = field(False, "design on the equivalent problem whose channels have the model's "
                                          "training gain (H/c at c^2 P_t, W mapped back; the rates are unchanged "
                                          "functions of the true channel): for channels of another scale")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MisoProfile(ProfileCommon):
    """``hbf-edge profile`` of a single-antenna-user model: init and each layer per backend."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpgaProfile(NumericalProfile):
    """``hbf-edge profile`` of a UPGA model: init and each layer per backend; with
    ``--numerical``, the numerical range profile and the precision advisor of a quantized model
    (:mod:`hbf_edge.families.upga.numerical`)."""


def _tiny() -> UpgaTrain:
    return UpgaTrain(out=Path("tiny-upga"), n_antennas=8, n_users=2, n_rf=2, paths=3, layers=2, train_size=8,
                     epochs=1, batch_size=4, quiet=True)


SPEC = FamilySpec(
    name="upga",
    paper="upga_multiuser_hbf.txt",
    title="unfolded projected gradient ascent, multiuser hybrid beamforming (sum rate)",
    channel_axes=("B", "N", "K"),
    metrics=("sum_rate",),
    formats=FORMATS,
    counter_sites=COUNTER_SITES,
    tiny=_tiny,
)
