"""UPGANet (``upganet_jcas.txt``): unfolded PGA for joint communications and sensing (numpy only).

Defaults are the paper's Section IV (I=20 outer layers, J=10 inner F-steps, omega=0.3, targets
at -60, 0 and 60 degrees, P_BS ~ U[0, 12] dB, final-layer loss), except the initial steps and
the relative learning rate, which the paper does not give (README, "UPGANet (JCAS)").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hbf_edge.families._protocol import FamilySpec, field
from hbf_edge.families.upga.config import COUNTER_SITES as UPGA_SITES
from hbf_edge.families.upga.config import MisoEval, MisoProfile, UpgaChannels, UpgaTrain
from hbf_edge.hw.spec import FORMATS

__all__ = ["SPEC", "COUNTER_SITES", "UpganetTrain", "UpganetEval", "UpganetBench", "JCAS_SNRS"]

JCAS_SNRS = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
# the UPGA sites, then the sensing gradient's (kernels/upganet/_fixed.py)
COUNTER_SITES = UPGA_SITES + ("X", "Y", "sense_F", "sense_W")


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpganetTrain(UpgaTrain):
    """``hbf-edge train upganet``: UPGANet on R - omega tau (eq. 16)."""

    layers: int = field(20, "outer layers I (default 20)", flag="-I")
    inner: int = field(10, "F-steps per layer J (default 10)", flag="-J")
    train_size: int = field(1000, "training channels (default 1000)")
    epochs: int = field(10, "epochs (default 10)")
    batch_size: int = field(50, "channels per Adam step (default 50)")
    lr: float = field(0.02, "Adam learning rate, relative: each step size moves by about this fraction of its "
                            "initial value per step (default 0.02)")
    snr_min: float = field(0.0, "lowest training SNR in dB (default 0)")
    snr_max: float = field(12.0, "highest training SNR in dB (default 12)")
    mu0: float = field(0.3, "initial F step sizes (default 0.3)")
    lambda0: float = field(2e-4, "initial W step sizes (default 2e-4)")
    layer_loss: str = field("last", "last: the paper's final-layer loss (default); uniform: mean over all layers; "
                                    "ramp: layer i weighs i", choices=["uniform", "last", "ramp"])
    targets: list[float] = field([-60.0, 0.0, 60.0], "target angles in degrees (default -60 0 60)", metavar="DEG")
    delta: float = field(5.0, "half main-lobe width in degrees (default 5)")
    omega: float = field(0.3, "weight of the beampattern error (default 0.3)")
    grid_points: int = field(361, "angle grid T over [-90, 90] degrees of Psi and the MSE (default 361, 0.5 "
                                  "degree; the authors' code uses 181, 1 degree)")
    psi: Path | None = field(None, "benchmark covariance Psi from a file (.npy/.npz/.mat, array Psi; Hermitian PSD "
                                   "with a constant diagonal, any power) instead of solving eq. (4), e.g. the "
                                   "authors' CVX solution", metavar="FILE")


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpganetEval(MisoEval):
    """``hbf-edge evaluate`` of a UPGANet model: rate, beampattern MSE and objective vs SNR,
    convergence and average beampatterns, against conventional PGA and digital ZF."""

    snr: list[float] = field(JCAS_SNRS, "SNRs in dB (default 0 2 4 6 8 10 12)", metavar="DB")
    compare: list[Path] = field([], "more UPGANet models of the same scenario in the same tables and plots",
                                metavar="MODEL_DIR")
    iterations: int = field(120, "outer iterations of the fixed-step PGA convergence curves (default 120)")
    mse: str = field("normalised", "beampattern MSE of the pattern per unit power, |a^H X X^H a / P - a^H Psi_1 a|^2 "
                                   "as the paper's figures (default), or absolute (release 0.1: grows with P^2)",
                     choices=["normalised", "absolute"])
    pga_layers: int | None = field(None, "outer iterations of the PGA baselines (default: the deepest model's I)",
                                   metavar="I")
    pga_inner: int = field(1, "F-steps J of the PGA baselines (default 1)", metavar="J")
    pga_mu: float = field(0.01, "fixed F step of conventional PGA (default 0.01, the paper's)")
    pga_lambda: float = field(0.01, "fixed W step of conventional PGA (default 0.01, the paper's)")
    tune_size: int = field(100, "validation channels (seed --seed + 1) on which the tuned PGA's fixed steps "
                                "are chosen from a grid (default 100; 0: no tuned PGA)")
    dump: Path | None = field(None, "also write channels, SNRs and every method's precoders to this .npz "
                                    "(keys H, snr_db, noise_power, F_<method>, W_<method>)")

    def validate(self) -> None:
        from hbf_edge.errors import ConfigError

        super().validate()
        if self.iterations < 1:
            raise ConfigError(f"--iterations must be >= 1, got {self.iterations}")
        if self.pga_layers is not None and self.pga_layers < 1:
            raise ConfigError(f"--pga-layers must be >= 1, got {self.pga_layers}")
        if self.pga_inner < 1 or self.tune_size < 0:
            raise ConfigError("--pga-inner must be >= 1 and --tune-size >= 0")
        for name in ("pga_mu", "pga_lambda"):
            value = getattr(self, name)
            if not (value >= 0 and value < float("inf")):
                raise ConfigError(f"--{name.replace('_', '-')} must be finite and >= 0, got {value}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpganetBench(MisoProfile):
    """``hbf-edge bench model`` of a UPGANet model: per-layer latency of the kernels and torch
    (no ONNX export), with the analytic MACs, as JSON."""

    backends: list[str] | None = field(None, "backends to time (default numba_float64 numba_float32 "
                                             "numba_hardware torch_eager)", nargs="+")
    out: Path | None = field(None, "also write the JSON to this folder's bench.json")


def _tiny() -> UpganetTrain:
    return UpganetTrain(out=Path("tiny-upganet"), n_antennas=8, n_users=2, n_rf=2, paths=3, layers=2, inner=2,
                        train_size=8, epochs=1, batch_size=4, quiet=True)


SPEC = FamilySpec(
    name="upganet",
    paper="upganet_jcas.txt",
    title="unfolded PGA for joint communications and sensing (sum rate - omega x beampattern MSE)",
    channel_axes=("B", "N", "K"),
    metrics=("sum_rate", "mse_db", "objective"),
    formats=FORMATS,
    counter_sites=COUNTER_SITES,
    tiny=_tiny,
)

UpganetChannels = UpgaChannels
UpganetProfile = MisoProfile
