"""Channels of the single-cell MISO families (UPGA, UPGANet): Saleh-Valenzuela ``H [B, N, K]``.

Shared by their core stages: the shape a model takes, held-out channels like its training
ones, the user's channel files (a toolkit dataset or a plain array), and ``hbf-edge channels``.

A model records the mean per-user gain of its training channels (``channel_gain_db``).  The
unfolded steps are tuned to it: a channel ``c H`` at power ``P_t`` is the problem ``H`` at
``c^2 P_t`` with a W-step ``c^2`` times longer, so a scale shift moves the network off what it
learned (README: a ``paper``-scale model on ``authors``-scale channels ends 12 % below the
model trained there at 0 dB, under its own initialisation).  A user's channels that depart by
more than ``GAIN_MARGIN_DB`` get a one-line warning; a family whose objective allows it
(``rescalable``) can design on channels scaled onto the training gain and map the design back
exactly (``hbf-edge evaluate --rescale-channels``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.channels import (
    channel_gain_db,
    check_channel_shape,
    read_channel_array,
    saleh_valenzuela_like,
    validate_miso_channels,
)
from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import Say

__all__ = ["MisoChannels", "GAIN_MARGIN_DB", "training_gain_db", "gain_shift_db", "training_snr_db",
           "snrs_outside_training", "warn_snrs_outside_training"]

GAIN_MARGIN_DB = 3.0
_log = logging.getLogger("hbf_edge")


def training_gain_db(config: Any) -> float:
    """The mean per-user gain (dB) of a model's training channels: as recorded, or for
    directories from before the record, the expectation of the generator it was trained with
    (``E ||h_k||^2 = P`` on the paper's scale, ``N`` on the authors')."""
    training = config.training
    if "channel_gain_db" in training:
        return float(training["channel_gain_db"])
    scale = training.get("channel_scale", "paper")
    mean = config.spec.n_antennas if scale == "authors" else int(training.get("n_paths", 10))
    return 10.0 * math.log10(mean)


def gain_shift_db(config: Any, H: np.ndarray) -> float:
    """How far (dB) the mean per-user gain of ``H`` is from the model's training channels."""
    return channel_gain_db(H) - training_gain_db(config)


def training_snr_db(config: Any) -> tuple[float, float]:
    """The model's training SNR range ``(lo, hi)`` in dB: as recorded (widened to the SNRs of
    UPGA's ``--refine-snrs`` finish), or the training defaults (-10, 20) for directories without
    the record.  A record that is not a finite
    number is refused in one line (``ConfigError``)."""
    out = []
    for key, default in (("snr_db_min", -10.0), ("snr_db_max", 20.0)):
        value = config.training.get(key, default)
        try:
            value = float(value)
        except (TypeError, ValueError):
            value = math.nan
        if isinstance(config.training.get(key), bool) or not math.isfinite(value):
            raise ConfigError(f"the model directory's training.{key} is {config.training.get(key)!r}, not a "
                              f"finite SNR in dB")
        out.append(value)
    finish = config.training.get("refine_snrs")  # UPGA's --refine-snrs: the finish trained there too
    if isinstance(finish, (list, tuple)) and finish and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                   and math.isfinite(x) for x in finish):
        return min(out[0], *finish), max(out[1], *finish)
    return out[0], out[1]


def snrs_outside_training(config: Any, snr_db: list[float], shift_db: float = 0.0) -> tuple[float, float, list[float]]:
    """The model's training SNR range ``[lo, hi]`` (:func:`training_snr_db`) and the SNRs of
    ``snr_db`` whose problem, ``shift_db`` further, lies outside."""
    lo, hi = training_snr_db(config)
    return lo, hi, [x for x in snr_db if not lo <= x + shift_db <= hi]


def warn_snrs_outside_training(config: Any, snr_db: list[float]) -> None:
    """One warning line when a model is run at SNRs it was not trained at: the steps are tuned
    to the SNRs of training, and a model trained at one SNR can end below its own
    initialisation a few dB away (README, "One model per SNR").  Only a warning: an
    unreadable record skips it (the run does not need the record)."""
    try:
        lo, hi, outside = snrs_outside_training(config, snr_db)
    except ConfigError:
        return
    if outside:
        _log.warning(f"hbf-edge: warning: the model was trained at SNRs [{lo:g}, {hi:g}] dB; at "
                     f"{', '.join(f'{x:g}' for x in outside)} dB its step sizes are untested and may overshoot")


class MisoChannels:
    """Mixin of a core stage whose channels are ``H [B, N, K]`` complex (eq. 2-3).

    ``rescalable``: the family's objective is invariant under ``(H, P_t, W) -> (H / c, c^2 P_t,
    c W)``, so a design can be made on channels scaled to the training gain and mapped back
    exactly (UPGA's sum rate; not UPGANet's, whose beampattern term is tied to ``P_t``).
    """

    rescalable = False

    def channel_shape(self, config: Any) -> tuple[int, int]:
        return config.spec.n_antennas, config.spec.n_users

    def draw_channels(self, config: Any, count: int, seed: int) -> np.ndarray:
        """``count`` Saleh-Valenzuela channels like the model's training ones (N, K, paths, scale)."""
        return saleh_valenzuela_like(config, count, seed)

    def read_channels(self, path: Path, config: Any | None = None, split: str = "test") -> np.ndarray:
        """Channels ``[B, N, K]`` from a file (``split`` is for datasets with splits; MISO files
        have none).  With the model's ``config``: checked against its N and K, and compared with
        its training gain (a one-line warning beyond ``GAIN_MARGIN_DB``)."""
        H = read_channel_array(path)
        if config is None:
            return validate_miso_channels(H, name=str(path))
        check_channel_shape(H, self.spec.channel_axes, self.channel_shape(config), str(path))
        H = validate_miso_channels(H, name=str(path))
        shift = gain_shift_db(config, H)
        if abs(shift) > GAIN_MARGIN_DB:
            _log.warning(f"hbf-edge: warning: {path} has a mean channel gain {shift:+.1f} dB from the model's "
                         f"training channels ({training_gain_db(config):.1f} dB); its step sizes were tuned there"
                         + (" (evaluate --rescale-channels designs on the training gain)" if self.rescalable else ""))
        return H

    def make_channels(self, settings: Any, say: Say) -> Path:
        """``hbf-edge channels``: a seeded Saleh-Valenzuela dataset (``ChannelDataset``)."""
        from hbf_edge.channels import make_dataset

        ds = make_dataset("saleh_valenzuela", n_channels=settings.count, n_antennas=settings.n_antennas,
                          n_users=settings.n_users, n_paths=settings.paths, seed=settings.seed,
                          scale=settings.channel_scale)
        path = ds.save(settings.out)
        say(f"wrote {len(ds)} channels [{settings.count}, {settings.n_antennas}, {settings.n_users}] at the "
            f"{settings.channel_scale} scale ({channel_gain_db(ds.H):.1f} dB mean gain) to {path}")
        return path
