"""UPGA step sizes that depend on the SNR (not in the paper; issue 19).

Why: the paper's steps are one set for every SNR, and one set cannot serve 0 and 20 dB at once on
the authors' channel scale (README, "The channel scale": steps finished for 0-12 dB collapse at
20 dB, steps that hold 20 dB give up the 0-12 dB win).  Each step becomes a function of the
channel's SNR ``s = 10 log10(P_t / sigma^2)``:

``mu_ij(s) = mu_ij exp(sum_g a_g(s) M_gij)``,  ``lambda_i(s) = lambda_i exp(sum_g a_g(s) L_gi)``

with trained log-gains ``M [G, I, J]`` (``mu_snr``) and ``L [G, I]`` (``lam_snr``), starting at 0
(the shared steps), and weights ``a(s)`` fixed by the law:

* ``log-affine`` (G = 1, one reference SNR ``r``): ``a(s) = (s - r) / 10``, so ``M`` and ``L``
  are slopes per 10 dB.  Two numbers per step; it extrapolates.
* ``table`` (G knots ``k_0 < ... < k_{G-1}`` dB): ``a(s)`` the hat functions of linear
  interpolation between neighbouring knots, constant beyond the ends, so the steps at each knot
  are free and in between their logarithms are interpolated (the "step table indexed by the SNR"
  of issue 19).

``exp`` keeps every step positive whatever the gains.  The section a model directory records is
``{"law": ..., "snr_db": [r] or [k_0, ...]}``.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from hbf_edge.errors import ConfigError

__all__ = ["LAWS", "SnrLaw"]

LAWS = ("log-affine", "table")


@dataclasses.dataclass(frozen=True)
class SnrLaw:
    """The law of SNR-dependent steps: ``law`` (one of :data:`LAWS`) and its SNRs in dB (the
    reference of ``log-affine``, the knots of ``table``)."""

    law: str
    snr_db: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.law not in LAWS:
            raise ConfigError(f"the SNR law must be one of {', '.join(LAWS)}, got {self.law!r}")
        points = self.snr_db
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in points):
            raise ConfigError(f"the SNR law's points must be finite dB values, got {points!r}")
        if self.law == "log-affine" and len(points) != 1:
            raise ConfigError(f"a log-affine law has one reference SNR, got {points!r}")
        if self.law == "table" and (len(points) < 2 or any(b <= a for a, b in zip(points, points[1:]))):
            raise ConfigError(f"a step table needs two or more increasing knots (dB), got {list(points)}")

    @classmethod
    def from_section(cls, section: object) -> "SnrLaw":
        """The law of a model directory's ``snr_steps`` section (ConfigError if malformed)."""
        if not isinstance(section, dict) or set(section) != {"law", "snr_db"} or not isinstance(section["snr_db"], list):
            raise ConfigError(f"snr_steps must be {{law, snr_db: [dB, ...]}}, got {section!r}")
        return cls(section["law"], tuple(section["snr_db"]))

    def to_section(self) -> dict:
        return {"law": self.law, "snr_db": [float(x) for x in self.snr_db]}

    @property
    def n_points(self) -> int:
        """G, the leading size of the log-gains."""
        return len(self.snr_db)

    def weights(self, snr_db: torch.Tensor) -> torch.Tensor:
        """``a(s) [B, G]`` for the SNRs ``s [B]`` (module notes)."""
        if self.law == "log-affine":
            return ((snr_db - self.snr_db[0]) / 10.0)[:, None]
        knots = torch.tensor(self.snr_db, dtype=snr_db.dtype)
        s = snr_db.clamp(knots[0], knots[-1])
        upper = torch.searchsorted(knots, s.detach()).clamp(1, len(self.snr_db) - 1)  # knot above (or at) s
        w = (s - knots[upper - 1]) / (knots[upper] - knots[upper - 1])
        a = torch.zeros(s.shape[0], len(self.snr_db), dtype=s.dtype)
        rows = torch.arange(s.shape[0])
        a[rows, upper - 1] = 1.0 - w
        a[rows, upper] = w
        return a

    def steps(self, mu: torch.Tensor, lam: torch.Tensor, mu_snr: torch.Tensor, lam_snr: torch.Tensor,
              p_t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each channel's steps: ``mu [I, J, B, 1, 1]`` and ``lam [I, B, 1, 1]``, which
        :func:`~hbf_edge.families.upga.model.pga_layer` broadcasts over each channel's F and W."""
        a = self.weights(10.0 * torch.log10(p_t / noise))  # [B, G]
        mu_b = mu[:, :, None] * torch.exp(torch.einsum("bg,gij->ijb", a, mu_snr))
        lam_b = lam[:, None] * torch.exp(torch.einsum("bg,gi->ib", a, lam_snr))
        return mu_b[..., None, None], lam_b[..., None, None]
