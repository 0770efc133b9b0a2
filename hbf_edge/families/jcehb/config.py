"""Mixed-timescale joint channel estimation and hybrid beamforming (``mixed_timescale_jcehb.txt``):
what the family is and its settings (numpy only).

Two presets (``../shared/specs/jcehb.md`` section 7): ``embedded`` (the default: N_t=32,
N_t^RF=8, N_r=8, N_r^RF=2, K=2, N_s=2, L=8 pilots = CEDUN layers, L_h=3 HBDUN layers, 500
training channels, 60 + 60 epochs) and ``paper`` (64, 16, 32, 4, 4, 4, L=16, L_h=5, 1000
channels, 60 + 60 epochs).  Any option overrides its preset.

Channels are ``H [B, K, N_r, N_t]`` complex (eq. 45-46,
:func:`hbf_edge.families.jcehb.system.jcehb_channels`); the pilot noise of a slot is drawn from
a seed (:func:`pilot_noise_seeded`), so the torch network and the kernels see the same slot.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.families._mimo import check_mimo_channels
from hbf_edge.families._protocol import FamilySpec, field
from hbf_edge.families.jcehb.formats import COUNTER_SITES, JCEHB_FORMATS
from hbf_edge.families.jcehb.overhead import DEFAULT_FRAMES, DEFAULT_Q_BITS, DEFAULT_SAMPLES, DEFAULT_SLOTS
from hbf_edge.families._settings import ChannelCommon, EvalCommon, NumericalProfile, TrainCommon, check_positive

__all__ = ["SPEC", "JcehbSizes", "PRESETS", "SizeSettings", "JcehbChannels", "JcehbTrain", "JcehbEval", "JcehbProfile",
           "pilot_noise_seeded", "check_boost", "DEFAULT_NOISE_SEED"]

PRESETS = {
    "embedded": dict(n_tx=32, n_rf_tx=8, n_rx=8, n_rf_rx=2, users=2, streams=2, pilots=8, hb_layers=3,
                     train_size=500, epochs=60),
    "paper": dict(n_tx=64, n_rf_tx=16, n_rx=32, n_rf_rx=4, users=4, streams=4, pilots=16, hb_layers=5,
                  train_size=1000, epochs=60),
}
_SIZES = ("n_tx", "n_rf_tx", "n_rx", "n_rf_rx", "users", "streams")
DEFAULT_NOISE_SEED = 7


def check_boost(boost_db: object) -> float:
    """A pilot boost in dB (the pilots' SNR above the data's, :func:`hbf_edge.families.jcehb.system.
    pilot_noise_power`), checked: a finite number in -30..60."""
    if isinstance(boost_db, bool) or not isinstance(boost_db, (int, float)) or not -30.0 <= boost_db <= 60.0:
        raise ConfigError(f"the pilot boost must be a number of dB in -30..60, got {boost_db!r}")
    return float(boost_db)


def pilot_noise_seeded(count: int, n_users: int, n_rx: int, length: int, seed: int) -> np.ndarray:
    """Unit-variance complex antenna noise of the pilot stage, ``[count, K, N_r, L]``, drawn
    pilot column by pilot column (numpy's default generator, ``[L, count, K, N_r, (re, im)]``),
    so the first columns of a longer draw are the draw of a shorter one: designs with fewer
    pilots see the same noise on the pilots they have."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((length, count, n_users, n_rx, 2))
    return np.ascontiguousarray(np.moveaxis(z[..., 0] + 1j * z[..., 1], 0, -1)) / np.sqrt(2.0)


@dataclasses.dataclass(frozen=True)
class JcehbSizes:
    """The system's sizes (defaults: the paper's, spec 1.1)."""

    n_tx: int = 64  # N_t
    n_rf_tx: int = 16  # N_t^RF (N in the code)
    n_rx: int = 32  # N_r (every user)
    n_rf_rx: int = 4  # N_r^RF (R in the code)
    n_users: int = 4  # K
    n_streams: int = 4  # N_s (every user)

    def __post_init__(self) -> None:
        for name in ("n_tx", "n_rf_tx", "n_rx", "n_rf_rx", "n_users", "n_streams"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.n_users * self.n_streams > self.n_rf_tx:
            raise ConfigError(f"K N_s = {self.n_users * self.n_streams} streams need N_t^RF >= K N_s RF chains, "
                              f"got N_t^RF = {self.n_rf_tx}")
        if self.n_rf_tx > self.n_tx:
            raise ConfigError(f"N_t^RF = {self.n_rf_tx} RF chains exceed N_t = {self.n_tx} antennas")
        if self.n_streams > self.n_rf_rx:
            raise ConfigError(f"N_s = {self.n_streams} streams need N_r^RF >= N_s, got N_r^RF = {self.n_rf_rx}")
        if self.n_rf_rx > self.n_rx:
            raise ConfigError(f"N_r^RF = {self.n_rf_rx} RF chains exceed N_r = {self.n_rx} antennas")

    def check_channels(self, H: np.ndarray, name: str = "channels") -> np.ndarray:
        """``H [B, K, N_r, N_t]`` complex and finite, of these sizes."""
        return check_mimo_channels(H, self, name)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SizeSettings:
    """The system's sizes: a preset, each size overridable."""

    preset: str = field("embedded", "size preset: embedded (N_t=32, N_t^RF=8, N_r=8, N_r^RF=2, K=2, N_s=2, L=8, "
                                    "L_h=3; default) or paper (64, 16, 32, 4, 4, 4, L=16, L_h=5)", choices=list(PRESETS))
    n_tx: int | None = field(None, "BS antennas N_t (default: the preset's)", flag="-N")
    n_rf_tx: int | None = field(None, "BS RF chains N_t^RF >= K N_s (default: the preset's)")
    n_rx: int | None = field(None, "antennas N_r per user (default: the preset's)")
    n_rf_rx: int | None = field(None, "RF chains N_r^RF per user, >= N_s (default: the preset's)")
    users: int | None = field(None, "users K (default: the preset's)", flag="-K")
    streams: int | None = field(None, "streams N_s per user (default: the preset's)", flag="-d")

    def preset_value(self, name: str) -> int:
        """``name``'s value: the option if given, else the preset's."""
        value = getattr(self, name, None)
        return PRESETS[self.preset][name] if value is None else value

    def sizes(self) -> JcehbSizes:
        """The :class:`JcehbSizes` of these settings (checked)."""
        v = {name: self.preset_value(name) for name in _SIZES}
        return JcehbSizes(n_tx=v["n_tx"], n_rf_tx=v["n_rf_tx"], n_rx=v["n_rx"], n_rf_rx=v["n_rf_rx"],
                          n_users=v["users"], n_streams=v["streams"])


@dataclasses.dataclass(frozen=True, kw_only=True)
class JcehbChannels(ChannelCommon, SizeSettings):
    """``hbf-edge channels jcehb``: clustered multi-antenna-user channels (eq. 45-46); the
    cluster options draw the paper's mismatch sets (Fig. 15: 3 clusters x 3 rays over +-90
    degrees; Fig. 14b: gain variance 0.08)."""

    clusters: int = field(4, "clusters N_c (default 4)")
    rays: int = field(2, "rays N_ray per cluster (default 2)")
    gain_var: float = field(0.1, "variance sigma_alpha^2 of the ray gains (default 0.1)")
    angle_range: float = field(60.0, "angles drawn uniformly in +-this many degrees (default 60)")

    def validate(self) -> None:
        super().validate()
        check_positive(self, "clusters", "rays")
        if not (self.gain_var > 0 and 0 < self.angle_range <= 90):
            raise ConfigError("--gain-var must be > 0 and --angle-range in (0, 90] degrees")
        self.sizes()


@dataclasses.dataclass(frozen=True, kw_only=True)
class JcehbTrain(TrainCommon, SizeSettings):
    """``hbf-edge train jcehb``: the SSCA analog design (the baseline's beams and the network's
    start), stage 1 (analog phases + HBDUN on the true equivalent channel), then stage 2 (pilots,
    CEDUN, HBDUN on the rate from the estimate) or, with ``--design separate``, the estimator
    trained on its NMSE alone."""

    pilots: int | None = field(None, "pilot length L = CEDUN layers (default: the preset's, 8 or 16)", flag="-L")
    hb_layers: int | None = field(None, "HBDUN layers L_h (default: the preset's, 3 or 5)", flag="-I")
    train_size: int | None = field(None, "training channels (default: the preset's, 500 or 1000)")
    val_size: int = field(100, "validation channels (default 100)")
    epochs: int | None = field(None, "epochs of each stage (default 60)")
    batch_size: int = field(50, "channels per Adam step (default 50)")
    lr: float = field(1e-3, "Adam learning rate of the pilots, CEDUN and HBDUN (default 1e-3)")
    lr_phase: float = field(1e-2, "Adam learning rate of the analog phases, radians (default 1e-2)")
    snr_db: float = field(10.0, "SNR in dB of training (default 10, the paper's)")
    pilot_power: str | None = field(None, "pilot power: per-chain (P per RF chain, default) or per-column (7e) as "
                                          "printed, ||x_l||^2 = P)", choices=["per-chain", "per-column"])
    inverse: str | None = field(None, "HBDUN's inverse: exact (default) or paper (the trained diag(C)^-1 B + D^- of "
                                  "eq. 29-30)", choices=["exact", "paper"])
    pilot_boost: float | None = field(None, "the pilots' SNR above the data SNR in dB (default 0: the same SNR; the "
                                            "paper gives neither its pilot power nor its pilot noise)", metavar="DB")
    design: str = field("joint", "joint (two stages: stage 2 on the sum rate, default), separate (the estimator "
                                 "trained on its NMSE, cascaded with stage 1's HBDUN) or one-stage (every parameter "
                                 "at once, for both stages' epochs; with --init-from: transfer learning) or "
                                 "black-box (Sec. VII-A's comparison: DNNs in place of CEDUN and HBDUN, one "
                                 "stage; --hb-layers does not apply)",
                        choices=["joint", "separate", "one-stage", "black-box"])
    init_from: Path | None = field(None, "start every parameter from this JCEHB model directory (its sizes, pilots, "
                                         "layers, pilot power and inverse are kept; size options must agree)",
                                   metavar="DIR")
    ssca_iterations: int = field(20, "SCA iterations J per SSCA step (default 20)")
    start: str = field("ssca", "where the network's phases start: ssca (default) or dft", choices=["ssca", "dft"])
    track_every: int = field(0, "Fig. 16: also record the validation sum rate every N training batches (0: per "
                                "epoch only, default); `evaluate` plots the record as fig16_tracking.png",
                             metavar="N")
    online: int = field(0, "Fig. 17-18: train online over this many frames instead of offline (0: offline, "
                           "default): after each frame, SSCA steps and the network's two stages continue on the "
                           "full-CSI samples so far (with --design black-box: the black box, Fig. 18); `evaluate` "
                           "plots the per-frame rates as fig17_online.png, with compared online runs as curves",
                        metavar="FRAMES")
    frame_samples: int = field(50, "online: full-CSI samples per frame (default 50, the paper's)")
    frame_epochs: int = field(10, "online: epochs of each stage per frame, on the samples so far (default 10)")
    csi_nmse: float | None = field(None, "online: NMSE in dB of the full-CSI samples (default: perfect CSI)",
                                   metavar="DB")
    csi_pilots: int | None = field(None, "online: estimate every full-CSI sample by RLS on the N_r x N_t channel "
                                         "from this many fully digital DFT pilots (>= N_t) at the pilots' SNR "
                                         "(default: perfect CSI)", metavar="L")

    def validate(self) -> None:
        super().validate()
        check_positive(self, "pilots", "hb_layers", "train_size", "val_size", "batch_size", "ssca_iterations")
        self.sizes()
        if self.precision != "float64":
            raise ConfigError("the JCEHB network trains in float64 only (--precision float64)")
        if self.track_every < 0:
            raise ConfigError(f"--track-every must be >= 0, got {self.track_every}")
        if self.epochs is not None and self.epochs < 0:
            raise ConfigError(f"--epochs must be >= 0, got {self.epochs}")
        if not (self.lr > 0 and self.lr_phase > 0):
            raise ConfigError("--lr and --lr-phase must be > 0")
        if self.design == "black-box" and (self.init_from is not None or self.inverse is not None):
            raise ConfigError("--design black-box trains its own DNNs: --init-from and --inverse do not apply")
        if self.init_from is not None and self.preset != "embedded":
            raise ConfigError("--init-from takes the model's sizes; --preset does not apply")
        if self.online < 0:
            raise ConfigError(f"--online must be >= 0 frames, got {self.online}")
        check_positive(self, "frame_samples", "frame_epochs")
        changed = [f.name for f in dataclasses.fields(self)
                   if f.name in ("frame_samples", "frame_epochs", "csi_nmse", "csi_pilots")
                   and getattr(self, f.name) != f.default]
        if not self.online and changed:
            raise ConfigError(f"--{changed[0].replace('_', '-')} applies to online training (--online FRAMES)")
        if self.pilot_boost is not None:
            check_boost(self.pilot_boost)
        if self.csi_pilots is not None:
            if self.csi_nmse is not None:
                raise ConfigError("--csi-pilots and --csi-nmse both set the full-CSI samples' error: give one")
            if self.csi_pilots < self.sizes().n_tx:
                raise ConfigError(f"--csi-pilots must be >= N_t = {self.sizes().n_tx} (RLS of the full channel), "
                                  f"got {self.csi_pilots}")
        if self.online:
            clash = [flag for flag, on in (("--train-size", self.train_size is not None),
                                           ("--init-from", self.init_from is not None),
                                           ("--track-every", self.track_every != 0),
                                           ("--epochs", self.epochs is not None),
                                           (f"--design {self.design}",
                                            self.design not in ("joint", "black-box"))) if on]
            if clash:
                raise ConfigError(f"{clash[0]} does not apply to online training: it sees --online x "
                                  "--frame-samples channels and trains the joint design (or the black box), "
                                  "--frame-epochs per frame")


@dataclasses.dataclass(frozen=True, kw_only=True)
class JcehbEval(EvalCommon):
    """``hbf-edge evaluate`` of a JCEHB model: sum rate and NMSE of the network against RLS-SCA
    (same pilots and layers, and the long reference), RLS with regularised ZF, HBDUN on perfect
    CSI and SCA on perfect CSI, on the SSCA beams of the model's training channels."""

    count: int = field(1000, "held-out channels to draw (default 1000)", old="--test-size")
    snr: list[float] | None = field(None, "SNRs in dB (default: the training SNR)", nargs="+")
    rls_pilots: int = field(90, "pilots of the long RLS baseline (default 90, the paper's reference)")
    sca_iterations: int = field(70, "iterations of the long SCA baseline (default 70, the paper's reference)")
    noise_seed: int = field(DEFAULT_NOISE_SEED, f"seed of the pilot noise (default {DEFAULT_NOISE_SEED})")
    compare: list[Path] = field([], "other JCEHB model directories of the same sizes to score on the same slots "
                                    "(e.g. the separate design)", nargs="+", metavar="DIR")
    test_pilots: list[int] = field([], "Fig. 14b: also score the network on only its first L' pilots (CEDUN "
                                       "layers), and RLS-L' + SCA-L_h, for each L' given", nargs="+", metavar="L")
    test_users: list[int] = field([], "Fig. 14a: also score the network cut to its first K' users (it was trained "
                                      "for K), and the long RLS + SCA at K', on the same slots, for each K' given",
                                  nargs="+", metavar="K")
    frames: int = field(DEFAULT_FRAMES, "Fig. 9: frames per superframe T_f of the signalling-overhead table "
                                        f"(default {DEFAULT_FRAMES}, the paper's)")
    pilot_bits: int = field(DEFAULT_Q_BITS, f"Fig. 9: bits q per fed-back pilot element (default {DEFAULT_Q_BITS}; "
                                            "the paper gives none)")
    slots_per_frame: int = field(DEFAULT_SLOTS, f"Fig. 9: slots per frame T_s (default {DEFAULT_SLOTS}; the paper "
                                                "gives none)")
    statistics_samples: int = field(DEFAULT_SAMPLES, "Fig. 9: full-CSI samples N_sample for the channel statistics "
                                                     f"(default {DEFAULT_SAMPLES}; the paper gives none)")

    def validate(self) -> None:
        super().validate()
        check_positive(self, "rls_pilots", "sca_iterations", "frames", "pilot_bits", "slots_per_frame",
                       "statistics_samples")
        if any(n < 1 for n in self.test_pilots):
            raise ConfigError(f"--test-pilots must be >= 1, got {self.test_pilots}")
        if any(k < 1 for k in self.test_users):
            raise ConfigError(f"--test-users must be >= 1, got {self.test_users}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class JcehbProfile(NumericalProfile):
    """``hbf-edge profile`` of a JCEHB model: the per-slot network, CEDUN layer by layer then
    HBDUN layer by layer, with the spec's op counts (section 6.4); with ``--numerical``, the
    ranges of the datapath's formats and the precision advisor of a quantized model
    (:mod:`hbf_edge.families.jcehb.numerical`)."""


def _tiny() -> JcehbTrain:
    return JcehbTrain(out=Path("tiny-jcehb"), n_tx=8, n_rf_tx=4, n_rx=4, n_rf_rx=2, users=2, streams=1, pilots=4,
                      hb_layers=2, train_size=20, val_size=10, epochs=1, batch_size=10, ssca_iterations=2, quiet=True)


SPEC = FamilySpec(
    name="jcehb",
    paper="mixed_timescale_jcehb.txt",
    title="mixed-timescale joint channel estimation (unfolded RLS) and hybrid beamforming (unfolded SCA)",
    channel_axes=("B", "K", "N_r", "N_t"),
    metrics=("sum_rate", "nmse"),
    formats=JCEHB_FORMATS,
    counter_sites=COUNTER_SITES,
    tiny=_tiny,
)
