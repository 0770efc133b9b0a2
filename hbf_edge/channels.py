"""Seeded channel generators and the ``.npz`` channel dataset format (numpy only).

Two models:

* :func:`saleh_valenzuela_miso` -- the extended Saleh-Valenzuela multiuser MISO channel of
  ``upga_multiuser_hbf.txt`` eq. (2)-(3), used by the PGA family;
* :func:`clustered_mimo` -- the clustered multi-antenna-user channel of
  ``mixed_timescale_jcehb.txt`` eq. (45)-(46) and ``mser_unfolding_hbf.txt`` eq. (3).

Shapes are batch first: MISO channels are ``H : [B, N, K]`` complex with column ``k`` the
channel ``h_k`` of user k (the received signal is ``h_k^H F w``); MIMO channels are
``H : [B, K, Nr, Nt]``.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge._io import atomic_file, check_memory
from hbf_edge.errors import DatasetError, InvalidChannelError, ShapeError

__all__ = [
    "ula_response",
    "saleh_valenzuela_miso",
    "saleh_valenzuela_like",
    "CHANNEL_SCALES",
    "channel_gain_db",
    "clustered_mimo",
    "validate_miso_channels",
    "ChannelDataset",
    "make_dataset",
    "read_channel_array",
    "check_channel_shape",
]

DATASET_FORMAT = 1
MODELS = ("saleh_valenzuela", "clustered_mimo")
# "paper": eq. (2)-(3) as printed, E ||h_k||^2 = P (paths).  "authors": the UPGA authors'
# generator, E ||h_k||^2 = N (a sqrt(N / P) factor), which the papers' SNR axes assume.
CHANNEL_SCALES = ("paper", "authors")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ShapeError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def ula_response(angles: np.ndarray, n: int, sign: float = 1.0) -> np.ndarray:
    """Half-wavelength ULA response ``a(phi) = [1, e^{s j pi sin phi}, ...]^T / sqrt(n)``.

    Eq. (3) of ``upga_multiuser_hbf.txt`` (``sign=+1``); eq. (46) of
    ``mixed_timescale_jcehb.txt`` with d = lambda/2 uses ``sign=-1``.

    Parameters
    ----------
    angles : ndarray of float, shape [...]
        Angles in radians.
    n : int
        Number of elements.

    Returns
    -------
    ndarray of complex128, shape [..., n]
    """
    idx = np.arange(n, dtype=np.float64)
    phase = sign * np.pi * np.sin(np.asarray(angles, dtype=np.float64))[..., None] * idx
    return np.exp(1j * phase) / math.sqrt(n)


def saleh_valenzuela_miso(
    n_channels: int, n_antennas: int, n_users: int, n_paths: int = 10, seed: int = 0, scale: str = "paper"
) -> np.ndarray:
    """Extended Saleh-Valenzuela multiuser MISO channels, eq. (2)-(3) of the UPGA paper.

    ``h_k = sum_p alpha_pk a(phi_pk)`` with ``alpha_pk ~ CN(0, 1)``, ``phi_pk ~ U(0, 2 pi)`` and
    the half-wavelength ULA response ``a`` of eq. (3) (with its ``1/sqrt(N)``), so
    ``E ||h_k||^2 = P`` (``scale="paper"``).  ``scale="authors"`` multiplies by ``sqrt(N / P)``
    as the authors' public generator does, so ``E ||h_k||^2 = N``: the same draws, shifted by
    ``10 log10(N / P)`` dB (8.1 dB at N=64, P=10), which is where the papers' SNR axes sit.
    Draw order (part of the format, do not change): alpha real, alpha imaginary, then phi,
    each of shape [B, K, P].

    Returns
    -------
    H : ndarray of complex128, shape [B, N, K]
    """
    b = _positive_int("n_channels", n_channels)
    n = _positive_int("n_antennas", n_antennas)
    k = _positive_int("n_users", n_users)
    p = _positive_int("n_paths", n_paths)
    if scale not in CHANNEL_SCALES:
        raise ShapeError(f"channel scale must be one of {', '.join(CHANNEL_SCALES)}, got {scale!r}")
    check_memory(16.0 * b * k * p * n, f"{b} channels of N={n}, K={k}, {p} paths")  # the [B, K, P, N] steering
    rng = np.random.default_rng(seed)
    alpha = (rng.standard_normal((b, k, p)) + 1j * rng.standard_normal((b, k, p))) / math.sqrt(2.0)
    phi = rng.uniform(0.0, 2.0 * np.pi, size=(b, k, p))
    steering = ula_response(phi, n)  # [B, K, P, N]
    h = np.einsum("bkp,bkpn->bnk", alpha, steering)
    if scale == "authors":
        h *= math.sqrt(n / p)
    return np.ascontiguousarray(h)


def saleh_valenzuela_like(config: Any, count: int, seed: int) -> np.ndarray:
    """``count`` channels drawn like a MISO model's training channels: its N, K, paths and
    channel scale (``config`` a model directory's ModelConfig; directories from before the
    scale option were trained on the ``paper`` scale)."""
    training = config.training
    return saleh_valenzuela_miso(count, config.spec.n_antennas, config.spec.n_users,
                                 int(training.get("n_paths", 10)), seed=seed,
                                 scale=str(training.get("channel_scale", "paper")))


def channel_gain_db(H: np.ndarray) -> float:
    """Mean per-user channel gain ``10 log10 mean_k E ||h_k||^2`` in dB of MISO channels
    ``[B, N, K]`` (the statistic a model records of its training channels)."""
    with np.errstate(over="ignore"):  # |h| ~ 1e300 has an infinite gain, and says so
        power = np.mean(np.sum(np.abs(H) ** 2, axis=1))
    return float(10.0 * np.log10(power)) if power > 0 else float("-inf")


def clustered_mimo(
    n_channels: int,
    n_tx: int,
    n_rx: int,
    n_users: int = 1,
    n_clusters: int = 4,
    n_rays: int = 2,
    gain_var: float = 0.1,
    aod_range: tuple[float, float] = (-math.pi / 3, math.pi / 3),
    aoa_range: tuple[float, float] = (-math.pi / 3, math.pi / 3),
    seed: int = 0,
    ray_spread_deg: float = 0.0,
) -> np.ndarray:
    """Clustered MIMO channels, eq. (45)-(46) of the mixed-timescale paper and eq. (3) of MSER.

    ``H_k = sqrt(Nt Nr / (Nc Nray)) sum_{i,l} alpha_il a_r(phi^r_il) a_t(phi^t_il)^H`` with
    ``alpha_il ~ CN(0, gain_var)`` and every ray's angles drawn independently and uniformly
    from ``aoa_range`` / ``aod_range`` (defaults: the mixed-timescale paper's
    ``sigma_alpha^2 = 0.1``, ``U(-pi/3, pi/3)``, ``Nc = 4``, ``Nray = 2``).  The array response
    uses ``e^{+j pi n sin phi}`` as MSER eq. (3) does; eq. (46)'s ``e^{-j...}`` gives the same
    distribution for the symmetric angle ranges used in both papers.  Draw order: alpha real,
    alpha imaginary, AoA, AoD, each of shape [B, K, Nc*Nray].

    ``ray_spread_deg > 0`` (El Ayach et al. style, the MSER spec's default 7.5): each cluster
    draws a mean AoA / AoD uniformly from the ranges, and its rays spread around it by a
    Laplacian of that angular spread (scale ``spread / sqrt 2``).  Draw order then: alpha real,
    alpha imaginary, cluster AoA, cluster AoD ([B, K, Nc] each), ray AoA, ray AoD offsets
    ([B, K, Nc, Nray] each).  ``0`` keeps the independent per-ray draws above.

    Returns
    -------
    H : ndarray of complex128, shape [B, K, Nr, Nt]
    """
    b = _positive_int("n_channels", n_channels)
    nt = _positive_int("n_tx", n_tx)
    nr = _positive_int("n_rx", n_rx)
    k = _positive_int("n_users", n_users)
    nc = _positive_int("n_clusters", n_clusters)
    nray = _positive_int("n_rays", n_rays)
    if not (math.isfinite(gain_var) and gain_var > 0):
        raise ShapeError(f"gain_var must be positive and finite, got {gain_var!r}")
    for name, (lo, hi) in (("aod_range", aod_range), ("aoa_range", aoa_range)):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ShapeError(f"{name} must be (low, high) with low < high, got {(lo, hi)!r}")
    if not (math.isfinite(ray_spread_deg) and ray_spread_deg >= 0):
        raise ShapeError(f"ray_spread_deg must be finite and >= 0, got {ray_spread_deg!r}")
    rng = np.random.default_rng(seed)
    shape = (b, k, nc * nray)
    alpha = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * math.sqrt(gain_var / 2.0)
    if ray_spread_deg == 0:
        aoa = rng.uniform(aoa_range[0], aoa_range[1], size=shape)
        aod = rng.uniform(aod_range[0], aod_range[1], size=shape)
    else:
        mean_aoa = rng.uniform(aoa_range[0], aoa_range[1], size=(b, k, nc, 1))
        mean_aod = rng.uniform(aod_range[0], aod_range[1], size=(b, k, nc, 1))
        laplace = math.radians(ray_spread_deg) / math.sqrt(2.0)
        aoa = (mean_aoa + rng.laplace(0.0, laplace, size=(b, k, nc, nray))).reshape(shape)
        aod = (mean_aod + rng.laplace(0.0, laplace, size=(b, k, nc, nray))).reshape(shape)
    a_r = ula_response(aoa, nr)  # [B, K, L, Nr]
    a_t = ula_response(aod, nt)  # [B, K, L, Nt]
    scale = math.sqrt(nt * nr / (nc * nray))
    h = scale * np.einsum("bkl,bklr,bklt->bkrt", alpha, a_r, a_t.conj())
    return np.ascontiguousarray(h)


# ||h_k||^2 of every user must lie here: the designs multiply a few powers together (H^H H,
# its inverse, SNR x power), which stays finite and above the subnormals in float64.
POWER_RANGE = (1e-100, 1e100)


def validate_miso_channels(
    H: Any, n_antennas: int | None = None, n_users: int | None = None, name: str = "H"
) -> np.ndarray:
    """Check a batch of MISO channels and return it as a complex128 array.

    Parameters
    ----------
    H : array_like of complex, shape [B, N, K]

    Raises
    ------
    ShapeError
        Not 3-D, empty, or N/K differ from the expected sizes.
    InvalidChannelError
        NaN/inf entries, a user whose channel vector is all zero (no precoder can serve it), a
        user power outside :data:`POWER_RANGE`, or a rank below K.
    """
    arr = np.asarray(H)
    if arr.dtype.kind not in "fc":
        raise ShapeError(f"{name} must hold real or complex numbers, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ShapeError(f"{name} must have shape [B, N, K], got {arr.shape}")
    if 0 in arr.shape:
        raise ShapeError(f"{name} is empty: shape {arr.shape}")
    if n_antennas is not None and arr.shape[1] != n_antennas:
        raise ShapeError(f"{name} has N={arr.shape[1]} antennas, expected {n_antennas}")
    if n_users is not None and arr.shape[2] != n_users:
        raise ShapeError(f"{name} has K={arr.shape[2]} users, expected {n_users}")
    if not np.all(np.isfinite(arr)):
        bad = np.unique(np.nonzero(~np.isfinite(arr))[0])
        raise InvalidChannelError(f"{name} holds NaN or inf in {bad.size} channel(s), first index {bad[0]}")
    zero_user = ~np.any(arr != 0, axis=1)  # [B, K]
    if zero_user.any():
        b, k = np.argwhere(zero_user)[0]
        raise InvalidChannelError(
            f"{name}: {int(zero_user.sum())} user channel(s) are all zero (first: channel {b}, user {k})"
        )
    arr = np.ascontiguousarray(arr.astype(np.complex128, copy=False))
    with np.errstate(over="ignore", under="ignore"):
        power = np.sum(arr.real ** 2 + arr.imag ** 2, axis=1)  # [B, K]
    lo, hi = POWER_RANGE
    if not np.all((power >= lo) & (power <= hi)):
        b, k = np.argwhere(~((power >= lo) & (power <= hi)))[0]
        raise InvalidChannelError(
            f"{name}: user {k} of channel {b} has power {power[b, k]:.3g}, outside [{lo:g}, {hi:g}] where the "
            "designs' products stay finite in float64: scale the channels")
    if arr.shape[2] <= arr.shape[1]:  # K users on N >= K antennas: H must have rank K
        s = np.linalg.svd(arr, compute_uv=False)  # [B, K], descending
        with np.errstate(divide="ignore", invalid="ignore"):
            deficient = ~(s[:, -1] > s[:, 0] * max(arr.shape[1:]) * np.finfo(np.float64).eps)
        if deficient.any():
            b = int(np.argmax(deficient))
            raise InvalidChannelError(
                f"{name}: {int(deficient.sum())} channel(s) have rank below K={arr.shape[2]} (first: channel {b}; "
                "users with parallel channels): zero forcing and the initialisation (eq. 12-13) need rank K")
    return arr


@dataclasses.dataclass(frozen=True)
class ChannelDataset:
    """Channels plus the parameters that generated them.

    Attributes
    ----------
    H : ndarray of complex128
        ``[B, N, K]`` for ``saleh_valenzuela``, ``[B, K, Nr, Nt]`` for ``clustered_mimo``.
    model : str
        Generator name, one of ``MODELS``.
    params : dict
        Keyword arguments of the generator (including the seed).
    """

    H: np.ndarray
    model: str
    params: dict

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise DatasetError(f"unknown channel model {self.model!r}; known: {MODELS}")
        expected = _expected_shape(self.model, self.params)
        if tuple(self.H.shape) != expected:
            raise DatasetError(f"channels have shape {tuple(self.H.shape)}, parameters say {expected}")
        if self.H.dtype != np.complex128:
            raise DatasetError(f"channels must be complex128, got {self.H.dtype}")
        if not np.all(np.isfinite(self.H)):
            raise DatasetError("channels hold NaN or inf")

    def __len__(self) -> int:
        return int(self.H.shape[0])

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``H``, ``model``, ``params`` (JSON) and the format version; atomic."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
        with atomic_file(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(
                    fh,
                    H=self.H,
                    model=np.array(self.model),
                    params=np.array(json.dumps(self.params, sort_keys=True)),
                    format_version=np.array(DATASET_FORMAT),
                )
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "ChannelDataset":
        """Read and validate a dataset written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DatasetError(f"channel file {path} does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = {"H", "model", "params", "format_version"} - set(data.files)
                if missing:
                    raise DatasetError(f"{path} is not an hbf-edge channel file: missing {sorted(missing)}")
                version = int(data["format_version"])
                if version != DATASET_FORMAT:
                    raise DatasetError(f"{path}: unknown channel file format {version}")
                H = np.array(data["H"])
                model = str(data["model"])
                params = json.loads(str(data["params"]))
        except DatasetError:
            raise
        except Exception as exc:  # zip, pickle and JSON errors of a corrupted file
            raise DatasetError(f"cannot read channel file {path}: {exc}") from exc
        if model == "saleh_valenzuela":
            validate_miso_channels(H, name=str(path))
        return cls(H=H, model=model, params=params)


def _expected_shape(model: str, params: dict) -> tuple[int, ...]:
    try:
        if model == "saleh_valenzuela":
            return (params["n_channels"], params["n_antennas"], params["n_users"])
        return (params["n_channels"], params.get("n_users", 1), params["n_rx"], params["n_tx"])
    except (KeyError, TypeError) as exc:
        raise DatasetError(f"channel parameters incomplete for {model}: {exc}") from exc


def make_dataset(model: str = "saleh_valenzuela", **params: Any) -> ChannelDataset:
    """Generate a :class:`ChannelDataset` with one of the generators of this module."""
    if model == "saleh_valenzuela":
        H = saleh_valenzuela_miso(**params)
    elif model == "clustered_mimo":
        H = clustered_mimo(**params)
    else:
        raise DatasetError(f"unknown channel model {model!r}; known: {MODELS}")
    gen = saleh_valenzuela_miso if model == "saleh_valenzuela" else clustered_mimo
    full = {
        name: p.default
        for name, p in inspect.signature(gen).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    full.update(params)
    full = {k: list(v) if isinstance(v, tuple) else v for k, v in full.items()}
    return ChannelDataset(H=H, model=model, params=full)


def read_channel_array(path: str | os.PathLike, key: str = "H") -> np.ndarray:
    """The channel array of a file: a toolkit dataset, or the user's own ``.npy``, ``.npz`` or
    ``.mat`` file.

    ``.npz`` and ``.mat`` files must hold the array under ``key`` (``H``), unless they hold
    exactly one array.  Real arrays are accepted (a real channel); the result is complex128,
    C-contiguous.  Shapes are the caller's to check (:func:`check_channel_shape`).

    Raises
    ------
    DatasetError
        Missing or unreadable file, unknown suffix, no array named ``key``, a non-numeric array.
    """
    from hbf_edge._arrays import read_array

    return read_array(path, key, "channel")


def check_channel_shape(H: np.ndarray, axes: tuple[str, ...], expected: tuple[int, ...], name: str) -> np.ndarray:
    """Refuse channels whose shape (after the batch axis) differs from ``expected``, naming
    each size that differs, e.g. ``N=32 antennas, the model has N=64``.

    Parameters
    ----------
    H : ndarray, [B, *expected]
    axes : tuple of str
        Axis names, batch first (the family's ``channel_axes``).
    """
    if H.ndim != len(axes):
        raise ShapeError(f"{name} must have shape [{', '.join(axes)}] ({len(axes)} axes), got {tuple(H.shape)}")
    if H.shape[0] == 0:
        raise ShapeError(f"{name} holds no channels")
    diffs = [f"{a}={got}" + f" (the model has {a}={want})" for a, got, want in zip(axes[1:], H.shape[1:], expected)
             if got != want]
    if diffs:
        raise ShapeError(f"{name} does not fit the model: " + ", ".join(diffs))
    if not np.all(np.isfinite(H)):
        raise InvalidChannelError(f"{name} holds NaN or inf")
    return H
