"""MSER hybrid transceiver (``mser_unfolding_hbf.txt``): sizes, symbols and channels (numpy only).

The system of Section II: a BS with N_t antennas and R_t RF chains (analog precoder F, N_t x R_t,
unit modulus; digital precoder V = [P_1 .. P_K], R_t x D) serves K users, each with N_r
antennas, R_r RF chains (analog combiner U_k, R_r x N_r, unit modulus, applied as ``U_k y_k``)
and a digital combiner W_k (R_r x D_k).  Shapes are batch first: ``H [B, K, N_r, N_t]``,
``F [B, N_t, R_t]``, ``V [B, R_t, D]``, ``U [B, K, R_r, N_r]``, ``W [B, K, R_r, D_k]``.

Choices where the paper is silent (``../shared/specs/mser.md`` section 1; each is tested):

* every user has the same N_r, R_r and D_k (the paper's tables use one value each);
* QPSK symbols are ``+-1 +-j`` and 16-QAM levels ``{-3, -1, 1, 3}`` per part, unnormalised, as the
  decision rules (6) and (45) use them; the power constraint is ``||F V||_F^2 = P_T`` for QPSK
  and ``P_T / 10`` for 16-QAM (spec slip 5.17);
* SNR = ``P_T / sigma_n^2`` with ``P_T = 1`` (spec 1.3);
* channels (eq. 3, spec 1.2): ``alpha ~ CN(0, 1)``, 2 clusters x 10 rays, cluster angles
  ``U(-pi/2, pi/2)`` with a 7.5-degree Laplacian ray spread -- the paper gives none of these;
  the spec measured that this lands in Table I's SER regime.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from hbf_edge.channels import clustered_mimo
from hbf_edge.errors import ConfigError
from hbf_edge.families._mimo import check_mimo_channels

__all__ = ["MserSizes", "CONSTELLATIONS", "levels", "all_symbol_vectors", "sample_symbol_vectors",
           "mser_channels", "noise_std"]

CONSTELLATIONS = ("qpsk", "16qam")


@dataclasses.dataclass(frozen=True)
class MserSizes:
    """The transceiver's sizes (spec 1.1; defaults: the paper's configuration)."""

    n_tx: int = 64  # N_t
    n_rf_tx: int = 8  # R_t
    n_users: int = 2  # K
    n_rx: int = 8  # N_r (every user)
    n_rf_rx: int = 4  # R_r (every user)
    n_streams: int = 3  # D_k (every user)
    constellation: str = "qpsk"

    def __post_init__(self) -> None:
        for name in ("n_tx", "n_rf_tx", "n_users", "n_rx", "n_rf_rx", "n_streams"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if self.n_streams > self.n_rf_rx:
            raise ConfigError(f"D_k = {self.n_streams} streams need R_r >= D_k RF chains, got R_r = {self.n_rf_rx}")
        if self.n_rf_rx > self.n_rx:
            raise ConfigError(f"R_r = {self.n_rf_rx} RF chains exceed N_r = {self.n_rx} antennas")
        if self.n_rf_tx < self.n_users * self.n_rf_rx:
            raise ConfigError(f"R_t = {self.n_rf_tx} must be >= sum_k R_r = {self.n_users * self.n_rf_rx}")
        if self.n_rf_tx > self.n_tx:
            raise ConfigError(f"R_t = {self.n_rf_tx} RF chains exceed N_t = {self.n_tx} antennas")
        if self.constellation not in CONSTELLATIONS:
            raise ConfigError(f"constellation must be one of {', '.join(CONSTELLATIONS)}, got {self.constellation!r}")

    @property
    def n_total_streams(self) -> int:
        """D = sum_k D_k."""
        return self.n_users * self.n_streams

    @property
    def power_divisor(self) -> float:
        """``||F V||_F^2 = P_T / power_divisor``: 1 for QPSK, 10 for 16-QAM, whose unnormalised
        levels carry E_s = 10 (spec 5.17)."""
        return 1.0 if self.constellation == "qpsk" else 10.0

    def mse_noise(self, sigma: float | np.ndarray) -> float | np.ndarray:
        """The noise std the MMSE designs weigh against unit symbol targets: ``sigma /
        sqrt(power_divisor)``.  Their MSE ``E_s ||E - T||^2 + sigma^2 ||U^H W||^2`` with 16-QAM's
        ``E_s = 10`` at ``||F V||^2 = P_T / 10`` is 10 times ``||E - T||^2 + (sigma^2 / 10) ||U^H W||^2``;
        with sigma itself the designs would assume an SNR 10 dB below the true one.  QPSK keeps
        sigma (the convention every QPSK figure was measured with: SNR ``P_T / sigma^2`` at
        ``||F V||^2 = P_T``)."""
        return sigma / math.sqrt(self.power_divisor)

    def check_channels(self, H: np.ndarray, name: str = "channels") -> np.ndarray:
        """``H [B, K, N_r, N_t]`` complex and finite, of these sizes."""
        return check_mimo_channels(H, self, name)


def levels(constellation: str) -> np.ndarray:
    """The real levels of one part: ``[-1, 1]`` (QPSK) or ``[-3, -1, 1, 3]`` (16-QAM)."""
    if constellation == "qpsk":
        return np.array([-1.0, 1.0])
    if constellation == "16qam":
        return np.array([-3.0, -1.0, 1.0, 3.0])
    raise ConfigError(f"constellation must be one of {', '.join(CONSTELLATIONS)}, got {constellation!r}")


def all_symbol_vectors(n_streams: int, constellation: str = "qpsk") -> np.ndarray:
    """Every transmit vector ``s`` of ``n_streams`` symbols, ``[D, M^D]`` complex (QPSK: 4^D)."""
    lv = levels(constellation)
    points = np.array([a + 1j * b for a in lv for b in lv])
    if len(points) ** n_streams > 1 << 22:
        raise ConfigError(f"{len(points)}^{n_streams} symbol vectors are too many to enumerate; sample them")
    return np.array(list(itertools.product(points, repeat=n_streams)), dtype=np.complex128).T.copy()


def sample_symbol_vectors(n_streams: int, count: int, rng: np.random.Generator,
                          constellation: str = "qpsk") -> np.ndarray:
    """``count`` transmit vectors drawn uniformly (i.i.d. symbols), ``[D, count]`` complex."""
    lv = levels(constellation)
    re = lv[rng.integers(0, len(lv), size=(n_streams, count))]
    im = lv[rng.integers(0, len(lv), size=(n_streams, count))]
    return re + 1j * im


def noise_std(snr_db: float | np.ndarray, p_t: float = 1.0) -> np.ndarray:
    """``sigma_n`` of SNR = ``P_T / sigma_n^2`` (spec 1.3)."""
    return np.sqrt(p_t / 10.0 ** (np.asarray(snr_db, dtype=np.float64) / 10.0))


def mser_channels(count: int, sizes: MserSizes, seed: int = 0, n_clusters: int = 2, n_rays: int = 10,
                  ray_spread_deg: float = 7.5) -> np.ndarray:
    """Eq. (3) with the spec's defaults (module notes): ``H [B, K, N_r, N_t]``, E||H_k||_F^2 = N_t N_r."""
    half = math.pi / 2
    return clustered_mimo(count, sizes.n_tx, sizes.n_rx, sizes.n_users, n_clusters, n_rays, gain_var=1.0,
                          aod_range=(-half, half), aoa_range=(-half, half), seed=seed, ray_spread_deg=ray_spread_deg)
