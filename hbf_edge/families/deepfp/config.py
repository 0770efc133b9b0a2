"""DeepFP (``deepfp.txt``): unfolded fast fractional programming for multi-cell weighted sum
rate, what the family is and its settings (numpy only).

Defaults are the paper's Section V-A (7 hexagonal cells, 6 users per cell with N_r = 4 and
d = 2 streams, N_t = 64, L = 8 layers, DNNs of 3 hidden layers of 64 units), except the noise
power: -80 dBm against 20 dBm per BS, the authors' code (the text says -90; ``--scenario``
chooses between the readings, ``SCENARIOS``).

Channels are ``H [B, L, K, L, N_r, N_t]`` complex (``H[b, l, k, i]``: BS i to user (l, k)),
normalised to unit noise power and a unit power budget per BS.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hbf_edge.families._protocol import FamilySpec, field
from hbf_edge.families._settings import ChannelCommon, EvalCommon, ProfileCommon, TrainCommon, check_positive

__all__ = ["SPEC", "SCENARIOS", "COUNTER_SITES", "NetworkSettings", "DeepfpChannels", "DeepfpTrain", "DeepfpEval",
           "DeepfpBench", "DeepfpAgreement", "DeepfpProfile"]

# Noise presets (dBm, against 20 dBm per BS).  The text of Section V-A says -90; the authors'
# training script uses a budget of 1e2 and a noise of 1e-8 (-80, our default); Table I's
# absolute WSRs (FastFP-100 14.83 bit/s/Hz) are reproduced at -77.5 (issue 19; README, DeepFP).
SCENARIOS = {"authors": -80.0, "tables": -77.5, "text": -90.0}

# overflow-counter sites of the hardware mode (kernels/deepfp/hardware.py): the DNN input, its
# hidden and output activations, and the fixed-point beamformer entries V
COUNTER_SITES = ("input", "hidden", "output", "v")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    """The multi-cell network (Section V-A)."""

    n_antennas: int = field(64, "transmit antennas N_t per BS (default 64)", flag="-N")
    cells: int = field(7, "1 (single cell) or 7 hexagonal cells (default 7)", choices=[1, 7])
    users_per_cell: int = field(6, "users K per cell (default 6)")
    n_rx: int = field(4, "receive antennas N_r per user (default 4)")
    streams: int = field(2, "data streams d per user, <= N_r (default 2)", flag="-d")
    scenario: str | None = field(None, "noise preset: authors (-80 dBm, the authors' training script; default), "
                                       "tables (-77.5 dBm, where Table I's absolute WSRs are reproduced) or text "
                                       "(-90 dBm, as the paper's text says)", choices=list(SCENARIOS))
    noise_dbm: float | None = field(None, "noise power in dBm against 20 dBm per BS, instead of a --scenario")
    fading: str = field("phase", "small-scale fading: unit-magnitude random phase (default) or Rayleigh",
                        choices=["phase", "rayleigh"])

    def network(self, shape: tuple[int, ...] | None = None) -> object:
        """The :class:`NetworkConfig` of these settings; with a channel ``shape`` [B, L, K, L,
        N_r, N_t], the sizes come from the channels."""
        from hbf_edge.families.deepfp.network import NetworkConfig

        sizes = dict(n_cells=self.cells, n_users=self.users_per_cell, n_tx=self.n_antennas, n_rx=self.n_rx)
        if shape is not None:
            sizes = dict(n_cells=shape[1], n_users=shape[2], n_tx=shape[5], n_rx=shape[4])
        return NetworkConfig(**sizes, n_streams=self.streams, noise_dbm=self.noise_power_dbm(), fading=self.fading)

    def noise_power_dbm(self) -> float:
        """The noise of ``--noise-dbm`` or of the ``--scenario`` preset (default ``authors``)."""
        from hbf_edge.errors import ConfigError

        if self.scenario is not None and self.noise_dbm is not None:
            raise ConfigError("give --scenario or --noise-dbm, not both")
        return self.noise_dbm if self.noise_dbm is not None else SCENARIOS[self.scenario or "authors"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepfpChannels(ChannelCommon, NetworkSettings):
    """``hbf-edge channels deepfp``: a network dataset with its 70/15/15 split, or with
    ``--hybrid`` the single-cell problems behind a quantized UPGA model's phase codes."""

    hybrid: Path | None = field(None, "instead of a cellular network: the single-cell problems DeepFP solves as "
                                      "the digital stage behind the phase codes of this quantized UPGA model "
                                      "(N_t = M, N_r = d = 1)", metavar="UPGA_DIR")
    snr: float = field(10.0, "SNR in dB of the hybrid problems (default 10)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepfpTrain(TrainCommon, NetworkSettings):
    """``hbf-edge train deepfp``: supervised epochs on the MSE to FastFP (eq. 53), then
    unsupervised epochs on the WSR; keeps the best validation epoch by default."""

    layers: int = field(8, "unfolded layers L (default 8)", flag="-I")
    hidden: int = field(64, "units per hidden layer of each DNN (default 64)")
    step_base: str = field("frobenius", "the step the DNN scales: 1/||L||_F (Remark 9, default) or the exact line "
                                        "search of the FP surrogate along each user's direction",
                           choices=["frobenius", "exact"])
    train_size: int = field(2000, "networks drawn for training (default 2000; 70 % train, 15 % validation)")
    supervised_epochs: int = field(5, "epochs on the MSE to FastFP, eq. 53 (default 5)")
    epochs: int = field(30, "unsupervised epochs (default 30)")
    batch_size: int = field(200, "networks per Adam step (default 200)")
    lr: float = field(5e-3, "Adam learning rate (default 5e-3)")
    fastfp_iterations: int = field(100, "FastFP iterations of the labels (default 100)")
    keep: str = field("best", "which epoch's parameters to save: the best validation WSR (default) or the last",
                      choices=["best", "last"])

    def validate(self) -> None:
        super().validate()
        check_positive(self, "layers", "hidden", "train_size", "batch_size", "fastfp_iterations")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepfpEval(EvalCommon):
    """``hbf-edge evaluate`` of a DeepFP model: Tables I-II of the paper (WSR and CPU time against
    FastFP-100), convergence and CDF plots."""

    fastfp_iterations: int = field(100, "iterations of the FastFP reference (default 100)")
    time_samples: int = field(200, "networks the CPU times are measured on (default 200)")
    baselines: list[str] | None = field(None, "more rows (default: ezf and, in a single cell, wmmse_sc)",
                                        choices=["ezf", "wmmse_sc", "wmmse"], nargs="*")

    def validate(self) -> None:
        super().validate()
        check_positive(self, "fastfp_iterations", "time_samples")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepfpBench(DeepfpEval):
    """``hbf-edge bench model`` of a DeepFP model: Tables I-II as JSON."""

    out: Path | None = field(None, "also write the JSON to this folder's bench.json")
    count: int = field(1000, "held-out networks to draw (default 1000)", old="--test-size")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepfpAgreement(EvalCommon):
    """``hbf-edge bench agreement`` of a DeepFP model: the Numba kernels against torch."""

    out: Path | None = field(None, "also write the JSON to this folder's bench.json")
    count: int = field(200, "networks to draw without --channels (default 200)", old="--test-size")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepfpProfile(ProfileCommon):
    """``hbf-edge profile`` of a DeepFP model: each layer split into FP state / DNN / update."""


def _tiny() -> DeepfpTrain:
    return DeepfpTrain(out=Path("tiny-deepfp"), n_antennas=4, cells=1, users_per_cell=2, n_rx=2, streams=1,
                       layers=2, hidden=8, train_size=20, supervised_epochs=1, epochs=1, batch_size=10,
                       fastfp_iterations=5, quiet=True)


SPEC = FamilySpec(
    name="deepfp",
    paper="deepfp.txt",
    title="unfolded fast fractional programming, multi-cell weighted sum rate",
    channel_axes=("B", "L", "K", "L", "N_r", "N_t"),
    metrics=("weighted_sum_rate",),
    formats=("dnn", "v"),
    counter_sites=COUNTER_SITES,
    tiny=_tiny,
)
