"""The multi-cell MU-MIMO network of the DeepFP paper (``deepfp.txt`` Section V-A), numpy only.

Geometry: ``n_cells`` BSs on a hexagonal grid (the centre cell, then its six neighbours) at
``bs_distance_km`` (0.8 km) from each other; ``K`` users per cell, uniform in the cell's
hexagon (circumradius ``R = D / sqrt(3)``) and at least ``min_distance_km`` from their BS (the
paper is silent; 0.173 km is the exclusion radius ``0.3 R / 0.8`` of the authors' public
generator).
Large scale: ``128.1 + 37.6 log10(r / km)`` dB plus independent log-normal shadowing of
``shadowing_db`` (8 dB) per BS-user link.  Small scale, one ``N_r x N_t`` matrix per link:

* ``"phase"`` (default) -- unit-magnitude entries with uniform random phase, what the
  authors' public data generator draws for the single-tone case;
* ``"rayleigh"`` -- i.i.d. CN(0, 1) entries.

Noise: the paper's text says -90 dBm against 20 dBm; the authors' training script uses a budget
of 1e2 and a noise of 1e-8 in the same units, i.e. -80 dBm, the default here.  Measured on 20
single-cell channels (N_t=64, N_r=4, K=6, d=2, 0.173 km exclusion): at -90 dBm FastFP-100
reaches 79 % of WMMSE-SC's WSR (FastFP-1000: 99 %); at -80 dBm 95 % (Table I: 97 %), so the
authors' regime is the one that reproduces the paper's tables.  ``noise_dbm`` stays a parameter.

Units: every channel is scaled by ``sqrt(P_BS / sigma^2)``,
so the datasets hold channels for a unit noise power and a unit power budget per BS.  This
keeps float32 training well conditioned (the raw gains are about 1e-12) and changes no rate.

Shapes: ``H : [B, L, K, L, N_r, N_t]`` complex128, ``H[b, l, k, i]`` the channel from BS ``i``
to user ``(l, k)`` (eq. 1's ``H_{lk,i}``); single-cell mode is ``L = 1`` (no other cell).
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge._io import check_memory
from hbf_edge.errors import ConfigError, HbfEdgeError

__all__ = ["NetworkConfig", "FADINGS", "bs_positions", "drop_users", "generate_channels", "make_dataset",
           "save_dataset", "load_dataset", "DatasetError", "SPLITS", "split_indices"]

FADINGS = ("phase", "rayleigh")
SPLITS = (("train", 0.70), ("val", 0.15), ("test", 0.15))
_FORMAT = 1


class DatasetError(HbfEdgeError, ValueError):
    """A channel dataset file is missing, corrupted or inconsistent."""


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """Sizes and propagation of a multi-cell network (defaults: the paper's Section V-A)."""

    n_cells: int = 7
    n_users: int = 6  # K per cell
    n_tx: int = 64  # N_t per BS
    n_rx: int = 4  # N_r per user
    n_streams: int = 2  # d per user
    bs_distance_km: float = 0.8
    min_distance_km: float = 0.173
    shadowing_db: float = 8.0
    bs_power_dbm: float = 20.0
    noise_dbm: float = -80.0
    fading: str = "phase"

    def __post_init__(self) -> None:
        for name in ("n_cells", "n_users", "n_tx", "n_rx", "n_streams"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.n_cells not in (1, 7):
            raise ConfigError(f"n_cells must be 1 (single cell) or 7 (the hexagonal network), got {self.n_cells}")
        if self.n_streams > self.n_rx:
            raise ConfigError(f"d = {self.n_streams} streams need N_r >= d receive antennas, got N_r = {self.n_rx}")
        if self.n_users * self.n_streams > self.n_tx:
            raise ConfigError(f"K d = {self.n_users * self.n_streams} streams exceed N_t = {self.n_tx}")
        if not (np.isfinite(self.bs_distance_km) and self.bs_distance_km > 0):
            raise ConfigError(f"bs_distance_km must be > 0, got {self.bs_distance_km!r}")
        if not 0 < self.min_distance_km < self.bs_distance_km / 2:
            raise ConfigError("min_distance_km must be > 0 and inside the cell's inscribed circle")
        if not (np.isfinite(self.shadowing_db) and self.shadowing_db >= 0):
            raise ConfigError(f"shadowing_db must be >= 0, got {self.shadowing_db!r}")
        if not (np.isfinite(self.bs_power_dbm) and np.isfinite(self.noise_dbm)):
            raise ConfigError("bs_power_dbm and noise_dbm must be finite")
        if self.fading not in FADINGS:
            raise ConfigError(f"fading must be one of {FADINGS}, got {self.fading!r}")

    @property
    def snr_scale(self) -> float:
        """``P_BS / sigma^2``, linear: the factor folded into the stored channels' power."""
        return 10.0 ** ((self.bs_power_dbm - self.noise_dbm) / 10.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "NetworkConfig":
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"bad network config: {exc}") from exc


def bs_positions(config: NetworkConfig) -> np.ndarray:
    """BS coordinates in km, ``[L, 2]``: the centre, then six neighbours at 30 + 60 i degrees."""
    if config.n_cells == 1:
        return np.zeros((1, 2))
    ang = np.deg2rad(30.0 + 60.0 * np.arange(6))
    ring = config.bs_distance_km * np.stack([np.cos(ang), np.sin(ang)], axis=1)
    return np.vstack([np.zeros((1, 2)), ring])


def _in_hexagon(xy: np.ndarray, circumradius: float) -> np.ndarray:
    """Points inside a hexagon with vertices at 0, 60, ... degrees (flat sides facing the
    neighbours at 30 + 60 i degrees) of the given circumradius."""
    x, y = np.abs(xy[..., 0]), np.abs(xy[..., 1])
    apothem = circumradius * np.sqrt(3) / 2
    return (y <= apothem) & (np.sqrt(3) * x + y <= np.sqrt(3) * circumradius)


def drop_users(config: NetworkConfig, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """User offsets from their own BS in km, ``[B, L, K, 2]``, uniform in the hexagon and at
    least ``min_distance_km`` away (rejection sampling from the circumscribed disk)."""
    radius = config.bs_distance_km / np.sqrt(3)
    shape = (n_samples, config.n_cells, config.n_users)
    out = np.empty(shape + (2,))
    todo = np.ones(shape, bool)
    while todo.any():
        n = int(todo.sum())
        r = radius * np.sqrt(rng.uniform(0.0, 1.0, n))
        phi = rng.uniform(0.0, 2 * np.pi, n)
        xy = np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)
        ok = _in_hexagon(xy, radius) & (r >= config.min_distance_km)
        idx = np.argwhere(todo)[ok]
        out[tuple(idx.T)] = xy[ok]
        todo[tuple(idx.T)] = False
    return out


def generate_channels(config: NetworkConfig, n_samples: int, seed: int = 0) -> np.ndarray:
    """Channels ``[B, L, K, L, N_r, N_t]`` in the module's units (unit noise, unit budget)."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ConfigError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    L, K = config.n_cells, config.n_users
    check_memory(16.0 * n_samples * L * K * L * config.n_rx * config.n_tx, f"{n_samples} networks")
    rng = np.random.default_rng(seed)
    bs = bs_positions(config)
    users = drop_users(config, n_samples, rng) + bs[None, :, None, :]  # absolute positions
    dist = np.linalg.norm(users[:, :, :, None, :] - bs[None, None, None, :, :], axis=-1)  # [B, L, K, L]
    dist = np.maximum(dist, config.min_distance_km)
    loss_db = 128.1 + 37.6 * np.log10(dist) + config.shadowing_db * rng.standard_normal(dist.shape)
    gain = np.sqrt(config.snr_scale * 10.0 ** (-loss_db / 10.0))
    shape = dist.shape + (config.n_rx, config.n_tx)
    if config.fading == "phase":
        small = np.exp(1j * rng.uniform(0.0, 2 * np.pi, shape))
    else:
        small = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    return gain[..., None, None] * small


def make_dataset(config: NetworkConfig, n_samples: int, seed: int = 0) -> dict[str, Any]:
    """Channels and a seeded 70/15/15 split (index arrays ``train``, ``val``, ``test``)."""
    H = generate_channels(config, n_samples, seed)
    return {"H": H, **split_indices(n_samples, seed), "config": config, "seed": seed}


def split_indices(n_samples: int, seed: int) -> dict[str, np.ndarray]:
    """The seeded 70/15/15 split of ``n_samples`` (sorted index arrays ``train``, ``val``, ``test``)."""
    perm = np.random.default_rng(seed + 1).permutation(n_samples)
    n_train = int(round(SPLITS[0][1] * n_samples))
    n_val = int(round(SPLITS[1][1] * n_samples))
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train:n_train + n_val]),
            "test": np.sort(perm[n_train + n_val:])}


def save_dataset(data: dict[str, Any], path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a dataset as ``.npz`` (atomic: complete or absent)."""
    from hbf_edge._io import atomic_file

    path = Path(path)
    if path.exists() and not overwrite:
        raise DatasetError(f"{path} already exists (pass --overwrite, or overwrite=True in Python, to replace it)")
    meta = {"format": _FORMAT, "config": data["config"].to_dict(), "seed": int(data["seed"])}
    if data.get("hybrid") is not None:  # effective problems behind analog codes (hbf_edge.families.deepfp.hybrid)
        meta["hybrid"] = data["hybrid"]
    with atomic_file(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, H=data["H"], train=data["train"], val=data["val"], test=data["test"],
                     meta=np.array(json.dumps(meta)))
    return path


def load_dataset(path: str | os.PathLike) -> dict[str, Any]:
    """Read a dataset written by :func:`save_dataset`, checking shapes, finiteness and the split."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        meta = json.loads(str(data.pop("meta")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc}") from exc
    if meta.get("format") != _FORMAT or not {"H", "train", "val", "test"} <= set(data):
        raise DatasetError(f"{path} is not an hbf-edge channel dataset (format {_FORMAT})")
    config = NetworkConfig.from_dict(meta["config"])
    H = data["H"]
    want = (config.n_cells, config.n_users, config.n_cells, config.n_rx, config.n_tx)
    if H.ndim != 6 or H.shape[1:] != want or not np.iscomplexobj(H):
        raise DatasetError(f"{path}: H must be complex [B, {', '.join(map(str, want))}], got {list(H.shape)}")
    if not np.all(np.isfinite(H)):
        raise DatasetError(f"{path}: H holds NaN or inf")
    idx = np.concatenate([data["train"], data["val"], data["test"]])
    if idx.size != H.shape[0] or not np.array_equal(np.sort(idx), np.arange(H.shape[0])):
        raise DatasetError(f"{path}: the train/val/test split is not a partition of the {H.shape[0]} samples")
    return {**data, "config": config, "seed": meta["seed"], "hybrid": meta.get("hybrid")}
