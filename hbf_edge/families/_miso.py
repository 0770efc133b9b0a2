"""Channels of the single-cell MISO families (UPGA, UPGANet): Saleh-Valenzuela ``H [B, N, K]``.

Shared by their core stages: the shape a model takes, held-out channels like its training
ones, the user's channel files (a toolkit dataset or a plain array), and ``hbf-edge channels``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.channels import (
    check_channel_shape,
    read_channel_array,
    saleh_valenzuela_miso,
    validate_miso_channels,
)
from hbf_edge.families._protocol import Say

__all__ = ["MisoChannels"]


class MisoChannels:
    """Mixin of a core stage whose channels are ``H [B, N, K]`` complex (eq. 2-3)."""

    def channel_shape(self, config: Any) -> tuple[int, int]:
        return config.spec.n_antennas, config.spec.n_users

    def draw_channels(self, config: Any, count: int, seed: int) -> np.ndarray:
        """``count`` Saleh-Valenzuela channels with the model's N, K and paths, seeded."""
        n_paths = int(config.training.get("n_paths", 10))
        return saleh_valenzuela_miso(count, config.spec.n_antennas, config.spec.n_users, n_paths, seed=seed)

    def read_channels(self, path: Path, config: Any | None = None, split: str = "test") -> np.ndarray:
        """Channels ``[B, N, K]`` from a file (``split`` is for datasets with splits; MISO files
        have none), checked against the model's N and K when ``config`` is given."""
        H = read_channel_array(path)
        if config is not None:
            check_channel_shape(H, self.spec.channel_axes, self.channel_shape(config), str(path))
        return validate_miso_channels(H, name=str(path))

    def make_channels(self, settings: Any, say: Say) -> Path:
        """``hbf-edge channels``: a seeded Saleh-Valenzuela dataset (``ChannelDataset``)."""
        from hbf_edge.channels import make_dataset

        ds = make_dataset("saleh_valenzuela", n_channels=settings.count, n_antennas=settings.n_antennas,
                          n_users=settings.n_users, n_paths=settings.paths, seed=settings.seed)
        path = ds.save(settings.out)
        say(f"wrote {len(ds)} channels [{settings.count}, {settings.n_antennas}, {settings.n_users}] to {path}")
        return path
