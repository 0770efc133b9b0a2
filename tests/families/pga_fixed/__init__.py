"""A test-only family, registered the way a user's own family is: classical projected gradient
ascent with *fixed* step sizes (``upga_multiuser_hbf.txt`` Algorithm 1 without learning; the
paper's PGA baseline) on UPGA's hardware datapath.

It lives only here and touches no shared file: ``hbf_edge.families.register_family`` (or the
entry-point group ``hbf_edge.families`` of an installed package) makes every command and stage
see it.  Its "training" writes the fixed steps ``mu0`` and ``lambda0`` into a model directory;
its kernels, quantization and bundle are UPGA's, reused by composition with its own name.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hbf_edge.export.upga.stage import UpgaExportStage
from hbf_edge.families import FamilySpec, field
from hbf_edge.families.upga.config import COUNTER_SITES, UpgaTrain
from hbf_edge.families.upga.core import UpgaCore
from hbf_edge.hw.spec import FORMATS
from hbf_edge.kernels.upga.stage import UpgaKernels
from hbf_edge.quant.upga.stage import UpgaQuantStage

NAME = "pga_fixed"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PgaFixedTrain(UpgaTrain):
    """``hbf-edge train pga_fixed``: write PGA's fixed steps as a model directory (no learning)."""

    epochs: int = field(0, "no learning: the steps stay mu0 and lambda0 (must be 0)")
    mu0: float = field(0.01, "F step size of every layer (default 0.01, the PGA baseline's)")
    lambda0: float = field(0.01, "W step size of every layer (default 0.01)")

    def validate(self) -> None:
        from hbf_edge.errors import ConfigError
        from hbf_edge.families._settings import check_positive

        if self.epochs != 0:
            raise ConfigError("--epochs: pga_fixed does not learn; its steps are --mu0 and --lambda0")
        check_positive(self, "n_antennas", "n_users", "paths", "n_rf", "layers", "inner")


def _tiny() -> PgaFixedTrain:
    return PgaFixedTrain(out=Path("tiny-pga"), n_antennas=8, n_users=2, n_rf=2, paths=3, layers=3, train_size=4,
                         quiet=True)


SPEC = FamilySpec(name=NAME, paper="upga_multiuser_hbf.txt", title="PGA with fixed steps (test-only family)",
                  channel_axes=("B", "N", "K"), metrics=("sum_rate",), formats=FORMATS,
                  counter_sites=COUNTER_SITES, tiny=_tiny, datapath="upga")


class PgaFixedCore(UpgaCore):
    spec = SPEC
    train_settings = PgaFixedTrain

    def _fit(self, settings: PgaFixedTrain, H, progress: bool):
        """The UPGA network at its initial (fixed) steps, with no epoch run."""
        from hbf_edge.families.upga.core import train_config
        from hbf_edge.families.upga.model import UPGA
        from hbf_edge.modelfiles import ModelConfig

        config = train_config(settings, epochs=1)  # the loop's config checks epochs; none is run
        model = UPGA(config.n_layers, config.n_inner, config.n_rf, config.mu0, config.lambda0)
        training = {**dataclasses.asdict(config), "epochs": 0}
        return model, ModelConfig(NAME, config.spec, config.n_layers, config.n_inner, training=training, history=[])


CORE = PgaFixedCore()
KERNELS = UpgaKernels()
QUANT = UpgaQuantStage(family=NAME)
EXPORT = UpgaExportStage()
