"""Channels of the families with multi-antenna users (MSER, JCEHB): clustered ``H [B, K, N_r, N_t]``.

Shared by their core stages (the :class:`MimoChannels` mixin): the shape a model takes, held-out
channels like its training ones, the user's channel files (a toolkit dataset or a plain array)
and the training / validation split; and by their sizes classes (:func:`check_mimo_channels`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError

__all__ = ["MimoChannels", "check_mimo_channels"]


def check_mimo_channels(H: np.ndarray, sizes: Any, name: str = "channels") -> np.ndarray:
    """``H [B, K, N_r, N_t]`` complex and finite, of ``sizes`` (``n_users``, ``n_rx``, ``n_tx``)."""
    H = np.asarray(H)
    want = (sizes.n_users, sizes.n_rx, sizes.n_tx)
    if H.ndim != 4 or H.shape[1:] != want:
        raise ShapeError(f"{name} must be [B, K, N_r, N_t] = [B, {', '.join(map(str, want))}], got {H.shape}")
    if not np.all(np.isfinite(H)):
        raise ShapeError(f"{name} hold NaN or inf")
    return np.ascontiguousarray(H, dtype=np.complex128)


class MimoChannels:
    """Mixin of a core stage with ``sizes(config)`` and ``generate(sizes, count, seed)`` (the
    family's channel model)."""

    def channel_shape(self, config: Any) -> tuple[int, ...]:
        z = self.sizes(config)
        return z.n_users, z.n_rx, z.n_tx

    def draw_channels(self, config: Any, count: int, seed: int) -> np.ndarray:
        return self.generate(self.sizes(config), count, seed)

    def read_channels(self, path: Path, config: Any | None = None, split: str = "test") -> np.ndarray:
        """Channels ``[B, K, N_r, N_t]`` of a dataset or a plain array file, checked against the
        model's sizes when ``config`` is given (NaN or inf refused)."""
        from hbf_edge.channels import check_channel_shape, read_channel_array

        H = read_channel_array(path)
        expected = self.channel_shape(config) if config is not None else (H.shape[1:] if H.ndim == 4 else ())
        return check_channel_shape(H, self.spec.channel_axes, expected, str(path))

    def training_channels(self, channels: Path | None, sizes: Any, n_train: int, n_val: int,
                          seed: int) -> tuple[np.ndarray, np.ndarray, str]:
        """Training and validation channels: ``n_train + n_val`` drawn with ``seed``, or a file's
        (its last ``min(n_val, B // 4)`` for validation); and where they came from."""
        if channels is None:
            H = self.generate(sizes, n_train + n_val, seed)
            return H[:n_train], H[n_train:], f"generated, seed {seed}"
        H = check_mimo_channels(self.read_channels(channels), sizes, str(channels))
        n_val = min(n_val, H.shape[0] // 4)
        if n_val < 1:
            raise ConfigError(f"{channels} holds {H.shape[0]} channels; training needs at least 4")
        return H[:-n_val], H[-n_val:], str(channels)
