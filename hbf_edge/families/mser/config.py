"""MSER hybrid transceiver by deep unfolding (``mser_unfolding_hbf.txt``): what the family is and
its settings (numpy only).

Two size presets (``../shared/specs/mser.md`` section 7): ``embedded`` (the default, trains in
well under a minute on 2 cores: N_t=32, R_t=4, K=2, N_r=4, R_r=2, D_k=2, L=8, J=64) and ``paper``
(N_t=64, R_t=8, K=2, N_r=8, R_r=4, D_k=3, L=15, J=128).  Any size option overrides its preset.

Channels are ``H [B, K, N_r, N_t]`` complex (eq. 3, :func:`hbf_edge.families.mser.system.mser_channels`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import FamilySpec, field
from hbf_edge.families._settings import ChannelCommon, EvalCommon, ProfileCommon, TrainCommon, check_positive

__all__ = ["SPEC", "PRESETS", "DESIGNS", "DESIGN_DEFAULTS", "refuse_cnn", "refuse_candidates", "SizeSettings", "MserChannels", "MserTrain", "MserEval", "MserProfile"]

# sizes, layers L and symbols per layer J of each preset (spec section 7)
PRESETS = {
    "embedded": dict(n_tx=32, n_rf_tx=4, users=2, n_rx=4, n_rf_rx=2, streams=2, layers=8, samples=64),
    "paper": dict(n_tx=64, n_rf_tx=8, users=2, n_rx=8, n_rf_rx=4, streams=3, layers=15, samples=128),
}
_SIZES = ("n_tx", "n_rf_tx", "users", "n_rx", "n_rf_rx", "streams")
# what `train` builds, and the defaults that depend on it (the CNN's: the paper's 10,000 channels and
# learning rate 0.005; batch 100, batch normalisation's statistics need more than 20)
DESIGNS = ("unfolded", "cnn")
DESIGN_DEFAULTS = {"unfolded": dict(train_size=300, batch_size=20, lr=0.02),
                   "cnn": dict(train_size=10000, batch_size=100, lr=0.005)}


# train's default epochs with candidate layers: `train mser --preset paper --candidates line` kept
# epoch 1 of 5 (pc5), with --start mmse-gd epoch 0 of 1, with --lr 0.005 epoch 2 of 6 (README,
# "Candidate layers"); an epoch there takes 80-100 s on 2 cores
CANDIDATE_EPOCHS = 2


def refuse_cnn(family_config: dict, model_dir: object, what: str) -> None:
    """One line when a model directory holds the benchmark CNN, which ``what`` does not take."""
    if family_config.get("design") == "cnn":
        raise ConfigError(f"{model_dir} holds the benchmark CNN, a comparison in float: {what} the unfolded network "
                          "(evaluate the CNN, or compare it with `hbf-edge evaluate MODEL --compare CNN_DIR`)")


def refuse_candidates(family_config: dict, model_dir: object, what: str) -> None:
    """One line when a model directory's network has candidate layers, which ``what`` does not
    take yet (they run in torch and the float kernel: ``evaluate``, ``profile``)."""
    if "candidates" in family_config:
        raise ConfigError(f"{model_dir} has candidate layers (train --candidates), which run in float only for now: "
                          f"{what} the network without them (evaluate and profile take it)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SizeSettings:
    """The transceiver's sizes: a preset, each size overridable."""

    preset: str = field("embedded", "size preset: embedded (N_t=32, R_t=4, K=2, N_r=4, R_r=2, D_k=2, L=8, J=64; "
                                    "default) or paper (64, 8, 2, 8, 4, 3, L=15, J=128)", choices=list(PRESETS))
    n_tx: int | None = field(None, "BS antennas N_t (default: the preset's)", flag="-N")
    n_rf_tx: int | None = field(None, "BS RF chains R_t (default: the preset's)")
    users: int | None = field(None, "users K (default: the preset's)", flag="-K")
    n_rx: int | None = field(None, "antennas N_r per user (default: the preset's)")
    n_rf_rx: int | None = field(None, "RF chains R_r per user (default: the preset's)")
    streams: int | None = field(None, "streams D_k per user, <= R_r (default: the preset's)", flag="-d")

    def preset_value(self, name: str) -> int:
        """``name``'s value: the option if given, else the preset's."""
        value = getattr(self, name, None)
        return PRESETS[self.preset][name] if value is None else value

    def sizes(self, constellation: str = "qpsk") -> object:
        """The :class:`~hbf_edge.families.mser.system.MserSizes` of these settings (checked)."""
        from hbf_edge.families.mser.system import MserSizes

        v = {name: self.preset_value(name) for name in _SIZES}
        return MserSizes(n_tx=v["n_tx"], n_rf_tx=v["n_rf_tx"], n_users=v["users"], n_rx=v["n_rx"],
                         n_rf_rx=v["n_rf_rx"], n_streams=v["streams"], constellation=constellation)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MserChannels(ChannelCommon, SizeSettings):
    """``hbf-edge channels mser``: clustered multi-antenna-user channels (eq. 3)."""

    def validate(self) -> None:
        super().validate()
        self.sizes()


@dataclasses.dataclass(frozen=True, kw_only=True)
class MserTrain(TrainCommon, SizeSettings):
    """``hbf-edge train mser``: tune the GD steps for L iterations on validation channels, then
    train the unfolded network (eq. 27-30) on the exact-width SER over an SNR range."""

    layers: int | None = field(None, "unfolded layers L (default: the preset's, 8 or 15)", flag="-I")
    samples: int | None = field(None, "symbol vectors J per layer (default: the preset's, 64 or 128)")
    design: str = field("unfolded", "the network: the unfolded one (eq. 27-30, default) or the benchmark CNN of Sec. "
                                    "V-B (four CNNs design F, V, U, W from the channel; trained in torch, compared in "
                                    "`evaluate`, not quantized)", choices=list(DESIGNS))
    train_size: int | None = field(None, "training channels (default 300; with --design cnn 10000, the paper's)")
    val_size: int = field(100, "validation channels (default 100)")
    epochs: int | None = field(None, "epochs (default 30; with --candidates 2: on the paper preset their best epoch "
                                     "was 1 or 0 in three runs)")
    batch_size: int | None = field(None, "channels per Adam step (default 20, the paper's; with --design cnn 100)")
    lr: float | None = field(None, "Adam learning rate, halved every --halve-every epochs (default 0.02; with --design "
                                   "cnn 0.005, the paper's)")
    halve_every: int = field(10, "epochs between halvings of the learning rate (default 10)")
    snr_range: list[float] = field([5.0, 25.0], "SNR range in dB the training draws from, uniformly (default 5 25)",
                                   nargs=2, metavar=("LOW", "HIGH"))
    step_shape: str = field("scalar", "learned steps: one per layer, variable and user (default) or the paper's "
                                      "per-entry matrices", choices=["scalar", "matrix"])
    offsets: bool = field(False, "learn the paper's offsets O (needs --step-shape matrix)")
    loss: str = field("log", "training loss: mean log SER of the channels (default) or mean SER (the paper's)",
                      choices=["log", "ser"])
    gd_steps: list[float] | None = field(None, "GD steps mu_P mu_W mu_thetaU mu_thetaF at 15 dB (default: tuned "
                                               "for L iterations on the validation channels)", nargs=4,
                                         metavar=("MU_P", "MU_W", "MU_TU", "MU_TF"))
    tune_snr: float = field(15.0, "SNR in dB the GD steps are tuned at (default 15; the steps then scale with the "
                                  "noise)")
    start_scale: float = field(1.0, "the network's initial steps: this times the GD steps (default 1: the network "
                                    "starts as GD-L)")
    start: str = field("alignment", "the design the network starts from: the DFT alignment (default) or the "
                                    "MMSE-based GD design at each channel's SNR", choices=["alignment", "mmse-gd"])
    start_iterations: int = field(50, "iterations of the MMSE-based GD start (default 50; with --start mmse-gd)")
    candidates: str = field("none", "candidate layers (not in the paper): each layer tries every row of a table of "
                                    "step factors and keeps, per channel, the candidate of lowest SER on 512 fixed "
                                    "vectors; none (default), line (15 rows: keep, the steps x1/4..16, and the same "
                                    "scales in a second shape, tuned for the network on the validation channels), "
                                    "short (7 of line's rows, half the cost) or a .npy file of a [C, 4] table (P, W, "
                                    "theta_U, theta_F); float only (torch and the Numba float kernel: evaluate, "
                                    "profile): quantize and export do not take them yet", metavar="GRID")
    constellation: str = field("qpsk", "symbols: QPSK (default) or 16-QAM (Sec. V-F; through every stage, the integer "
                                       "datapath included)", choices=["qpsk", "16qam"])

    def design_value(self, name: str) -> int | float:
        """``train_size``, ``batch_size`` or ``lr``: the option if given, else the design's default;
        ``epochs``: the option if given, else 30 (2 with candidate layers)."""
        value = getattr(self, name)
        if value is not None:
            return value
        if name == "epochs":
            return 30 if self.candidates == "none" else CANDIDATE_EPOCHS
        return DESIGN_DEFAULTS[self.design][name]

    def start_record(self) -> dict:
        """The start as the model directory records it."""
        return {"kind": self.start, "iterations": self.start_iterations if self.start == "mmse-gd" else 0}

    def validate(self) -> None:
        super().validate()
        check_positive(self, "layers", "samples", "train_size", "val_size", "epochs", "batch_size", "halve_every",
                       "start_iterations")
        if self.design == "cnn":  # the unfolded network's own options: refused, not ignored
            given = [flag for flag, on in (("--step-shape matrix", self.step_shape != "scalar"),
                                           ("--offsets", self.offsets), ("--start mmse-gd", self.start != "alignment"),
                                           ("--start-scale", self.start_scale != 1.0),
                                           ("--candidates", self.candidates != "none")) if on]
            if given:
                raise ConfigError(f"{', '.join(given)} shape(s) the unfolded network: --design cnn trains the CNN")
        self.sizes(self.constellation)
        if self.precision != "float64":
            raise ConfigError("the MSER network trains in float64 only (--precision float64)")
        if self.snr_range[0] > self.snr_range[1]:
            raise ConfigError(f"--snr-range LOW must be <= HIGH, got {self.snr_range}")
        if self.offsets and self.step_shape != "matrix":
            raise ConfigError("--offsets needs --step-shape matrix (an offset per entry)")
        if not (self.design_value("lr") > 0 and self.start_scale > 0):
            raise ConfigError("--lr and --start-scale must be > 0")
        if self.gd_steps is not None and not all(v >= 0 for v in self.gd_steps):
            raise ConfigError(f"--gd-steps must be >= 0, got {self.gd_steps}")
        from hbf_edge.families.mser.candidates import read_candidates

        read_candidates(self.candidates)


@dataclasses.dataclass(frozen=True, kw_only=True)
class MserEval(EvalCommon):
    """``hbf-edge evaluate`` of an MSER model: exact SER of the network against GD (L and
    --gd-iterations iterations, tuned steps), the DFT alignment start, the fully digital MMSE
    transceiver, its OMP and MO-AltMin hybrids and the MMSE-based GD, per SNR."""

    count: int = field(300, "held-out channels to draw (default 300)", old="--test-size")
    snr: list[float] = field([5.0, 15.0, 25.0], "SNRs in dB (default 5 15 25)", nargs="+")
    gd_iterations: int = field(200, "iterations of the long GD baseline (default 200; the paper: 500)")
    gd_starts: int = field(1, "starts of the long GD baseline, the alignment and random ones, best per channel "
                              "(default 1; the paper: 50)")
    gd_steps: list[float] | None = field(None, "steps mu_P mu_W mu_thetaU mu_thetaF of the long GD baseline at 15 dB "
                                               "(default: tuned for its iterations on 50 channels, starting from the "
                                               "model's GD steps)", nargs=4, metavar=("MU_P", "MU_W", "MU_TU", "MU_TF"))
    gd_tune_snr: float = field(15.0, "SNR in dB the long GD's steps are tuned at (default 15)")
    gd_tune_each: bool = field(False, "tune the long GD's steps at every evaluated SNR instead, one step search per "
                                      "SNR (stronger for QPSK on the paper preset, not for 16-QAM at 25 dB: README, "
                                      "MSER)")
    gd_tune_min_gain: float = field(0.0, "the long GD's step search keeps a move only when the mean SER falls by more "
                                         "than this fraction of it (default 0: any fall; 0.01 found stronger steps "
                                         "on the paper preset, README, MSER)", metavar="FRACTION")
    gd_keep_best: int = field(0, "the long GD keeps, per channel, the design of lowest exact SER among its start, "
                                 "every EVERY-th iterate and the last of the plain GD's trajectory, so it never ends "
                                 "worse than its start or the plain GD (default 0: the last iterate, the paper's)",
                              metavar="EVERY")
    gd_tune_sweeps: int = field(1, "sweeps of the long GD's step search (default 1)")
    mmse_gd_iterations: int = field(50, "iterations of the MMSE-based GD baseline (Fig. 10), line searches included "
                                        "(default 50; 0: not run)")
    csi_error: list[float] | None = field(None, "imperfect CSI (Fig. 10): error variances sigma_h^2, relative to the "
                                                "mean entry power of H; every design is computed from H - sigma_h dK "
                                                "and scored on H, at --csi-snr (default: not run)", nargs="+",
                                          metavar="VAR")
    csi_snr: float = field(20.0, "SNR in dB of the imperfect-CSI study (default 20, the paper's)")
    compare: list[Path] = field([], "other MSER model directories of the same sizes (e.g. the benchmark CNN, "
                                    "`train mser --design cnn`) scored on the same channels as rows compare:<name>",
                                nargs="+", metavar="DIR")

    def validate(self) -> None:
        super().validate()
        check_positive(self, "gd_iterations", "gd_starts", "gd_tune_sweeps")
        if self.gd_steps is not None and not all(v >= 0 for v in self.gd_steps):
            raise ConfigError(f"--gd-steps must be >= 0, got {self.gd_steps}")
        if self.gd_keep_best < 0:
            raise ConfigError(f"--gd-keep-best must be >= 0, got {self.gd_keep_best}")
        if not 0.0 <= self.gd_tune_min_gain < 1.0:
            raise ConfigError(f"--gd-tune-min-gain must lie in [0, 1), got {self.gd_tune_min_gain}")
        if self.gd_tune_min_gain and self.gd_steps is not None:
            raise ConfigError("--gd-tune-min-gain shapes the step search and --gd-steps skips it: pass one")
        if self.gd_tune_each and self.gd_steps is not None:
            raise ConfigError("--gd-tune-each tunes the long GD's steps and --gd-steps gives them: pass one")
        if self.gd_tune_each and self.gd_tune_snr != 15.0:
            raise ConfigError("--gd-tune-each tunes at every evaluated SNR: drop --gd-tune-snr")
        if self.mmse_gd_iterations < 0:
            raise ConfigError(f"--mmse-gd-iterations must be >= 0, got {self.mmse_gd_iterations}")
        if self.csi_error is not None and not all(0 <= v <= 10 for v in self.csi_error):
            raise ConfigError(f"--csi-error variances must lie in 0..10, got {self.csi_error}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MserProfile(ProfileCommon):
    """``hbf-edge profile`` of an MSER model: each layer's four sub-steps, with the spec's op count."""


def _tiny() -> MserTrain:
    return MserTrain(out=Path("tiny-mser"), n_tx=8, n_rf_tx=2, users=2, n_rx=2, n_rf_rx=1, streams=1, layers=2,
                     samples=8, train_size=20, val_size=10, epochs=1, batch_size=10, gd_steps=[1e-3, 1e-2, 1e-2, 1e-2],
                     quiet=True)


SPEC = FamilySpec(
    name="mser",
    paper="mser_unfolding_hbf.txt",
    title="minimum symbol error rate hybrid transceiver, analog combiners at the users",
    channel_axes=("B", "K", "N_r", "N_t"),
    metrics=("ser",),
    formats=(),
    counter_sites=(),
    tiny=_tiny,
)
