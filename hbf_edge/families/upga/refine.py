"""A full-batch finish of UPGA's step sizes that keeps every layer above the start (issue 19).

Why: on the authors' channel scale at 12 dB, the losses that keep every layer up (``uniform``,
``ramp``, hinges on each layer) end just below PGA-100 when trained by Adam on mini-batches, and
the last layer's loss (the paper's) beats it only through middle layers far below the
initialisation, a layer-by-layer curve useless for truncation (README, "The channel scale").
From either, a deterministic optimiser on every training channel at once finds steps whose
output beats PGA-100 with every layer above the start: measured (1000 held-out channels, seed
2026) from ``--layer-loss ramp`` 29.808 bit/s/Hz, lowest layer 1.39 above the start, and from
``--layer-loss last`` 29.717, lowest 0.35 above (PGA-100: 29.710).

What it solves (not in the paper, which trains on the last layer only):

``max_theta  mean_b R_I,b  -  rho * sum_{i=1..I} max(0, mean_b R_0,b + m - mean_b R_i,b)^2``

over ``theta = log(mu), log(lambda)`` (so the steps stay positive, as under ``--steps
relative``), with ``R_i,b`` the sum rate (eq. 4) of layer ``i`` on training channel ``b`` and
``R_0`` the initialisation's (eq. 12-13).  ``m`` (the margin, bit/s/Hz) keeps the held-out
curve above the start too, where the training means carry sampling error.  ``rho`` rises
through ``RHOS`` (a continuation: each stage a fresh L-BFGS with a strong-Wolfe line search,
``CALLS`` calls of ``MAX_ITER`` iterations): from the same last-layer model (a scratch run), the
schedule 0.01, 0.1, 1, 10 ended at 29.717 with every layer 0.35 above the start and rho = 1
alone at 29.697 (the stiff penalty pulls the middle layers up before the output has found its
way); the fourth stage changed nothing, so it is not kept.

A model with SNR-dependent steps (``--snr-steps``, :mod:`hbf_edge.families.upga.snr_steps`)
refines its log-gains too, so that one finish over several ``--refine-snrs`` fits each SNR's
steps.  A step table whose knots are the finish's SNRs splits the objective into one term per
knot (at a knot the steps are that knot's alone); each is then refined on its own, the shared
steps fixed: the same objective, each L-BFGS on its own curvature (one joint L-BFGS over five
knots ended 0.04 below PGA-100 at 12 dB, README "The channel scale").

Between the knots that is not enough: steps finished at a knot sit at the edge of what that
SNR tolerates (the 6 and 12 dB knots' steps run 1.5 dB above their knot: a layer 0.53 and 0.45
below the start; 3 dB above: 4.2 and 4.0 below), and the interpolated steps dipped below the
start at -5 and 9 dB.  With ``config.refine_between = n`` the finish then scores ``n`` evenly
spaced SNRs inside each gap between neighbouring finish SNRs as well, in one more L-BFGS over
every parameter (after the knot-by-knot pass, which gives it its start).  Measured on held-out
channels (authors' scale, knots -10 0 6 12 20 dB): with one SNR per gap every layer stays above
the start at 17 SNRs from -10 to 20 dB but one (-2.5 dB, -0.004); with two, at all 21 (lowest
+0.12), and the output beats PGA-100 from -10 to 14 dB (README "The channel scale").  The price
is that last pass, on 9 or 13 SNRs' channels at once: the longest part of the training.

The SNR of each training channel is drawn once (uniform in dB over the training range, seed
``config.seed + 2``), so the objective is a fixed function of ``theta``; the record's ``loss``
is the last stage's (``rho = RHOS[-1]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hbf_edge import cplx
from hbf_edge._progress import progress_bar
from hbf_edge.errors import ConfigError
from hbf_edge.families.upga.model import pga_forward
from hbf_edge.units import snr_db_to_power

__all__ = ["refine_above_start", "RHOS", "CALLS", "MAX_ITER"]

RHOS = (0.01, 0.1, 1.0)  # penalty weights, one stage each (module notes)
CALLS = 3  # L-BFGS calls per stage, one progress tick each
MAX_ITER = 60  # iterations per call
_FLOOR = 1e-30  # a step clamped to 0 by --steps relative enters the log as this (no effect on a design)


def refine_above_start(model: Any, H_train: np.ndarray, config: Any, progress: bool = True) -> dict:
    """Refine ``model.mu`` and ``model.lam`` (and the log-gains of SNR-dependent steps) in place
    (module notes); return the history record.

    Parameters
    ----------
    model : :class:`hbf_edge.families.upga.model.UPGA`
    H_train : ndarray of complex, [B, N, K]
        Every training channel (one batch).
    config : :class:`hbf_edge.training.TrainConfig`
        Its SNR range, seed and precision; ``refine_above_start`` is the margin ``m`` (bit/s/Hz,
        checked >= 0 by the config); ``refine_snrs``, if set, scores every training channel at
        each of these SNRs (dB): the objective is the mean over them of the last layer's mean
        rate, and every SNR's layers are kept above that SNR's start (one penalty term per SNR
        and layer).  Without it: one SNR per channel, drawn once in the training range, and one
        curve.  ``refine_between`` (``n``): the objective also scores ``n`` SNRs inside each
        gap between neighbouring ``refine_snrs`` (module notes).

    Returns
    -------
    dict
        ``{"refine": "lbfgs", "loss", "rate_last", "lowest_layer_minus_start", "iterations"}``
        on the training channels after the refinement.
    """
    margin, snrs_db = config.refine_above_start, config.refine_snrs
    if margin is None:
        raise ConfigError("the refinement above the start needs config.refine_above_start (its margin)")
    with torch.no_grad():
        if bool((model.mu < 0).any()) or bool((model.lam < 0).any()):
            raise ConfigError("the refinement above the start needs positive steps (--steps relative)")
    dtype = model.mu.dtype if config.precision == "float64" else torch.float32
    H1 = cplx.from_complex(torch.from_numpy(H_train).to(torch.complex128))
    H1 = cplx.C(H1.re.to(dtype), H1.im.to(dtype))
    theta_mu = torch.log(model.mu.detach().clamp_min(_FLOOR)).to(dtype).clone().requires_grad_(True)
    theta_lam = torch.log(model.lam.detach().clamp_min(_FLOOR)).to(dtype).clone().requires_grad_(True)
    law = model.snr_law
    gains = [getattr(model, name).detach().to(dtype).clone().requires_grad_(True)
             for name in ("mu_snr", "lam_snr")] if law is not None else []
    rho = [RHOS[0]]
    scored = _with_between(snrs_db, config.refine_between)

    def joint(snrs: Any) -> Any:
        """The objective of the module notes over ``snrs`` (every training channel at each; or,
        without them, one drawn SNR per channel and one curve); returns ``(loss, R [I + 1, G])``."""
        B = H_train.shape[0]
        if snrs:
            groups = len(snrs)
            H = cplx.C(H1.re.repeat(groups, 1, 1), H1.im.repeat(groups, 1, 1))  # SNR-major: [G * B, N, K]
            p_t = torch.from_numpy(np.repeat(snr_db_to_power(np.asarray(snrs, dtype=np.float64)), B))
        else:
            groups, H = 1, H1
            rng = np.random.default_rng(config.seed + 2)
            p_t = torch.from_numpy(snr_db_to_power(rng.uniform(config.snr_db_min, config.snr_db_max, B)))
        p_t = p_t.to(dtype)
        noise = torch.ones_like(p_t)

        def objective() -> tuple[torch.Tensor, torch.Tensor]:
            steps = ((theta_mu.exp(), theta_lam.exp()) if law is None else
                     law.steps(theta_mu.exp(), theta_lam.exp(), *gains, p_t, noise))
            _, rates = pga_forward(H, p_t, noise, *steps, model.n_rf, trajectory=True)
            # Algorithm 1 with these steps = the network's forward; R: [I + 1, G] means per layer and SNR
            R = torch.stack([r.mean()[None] if groups == 1 else r.view(groups, B).mean(1) for r in rates])
            return -R[-1].mean() + rho[0] * (torch.relu(R[0] + margin - R[1:]) ** 2).sum(), R

        return objective

    knots = _knot_of_each_snr(law, snrs_db)
    passes = (0 if knots is None else len(knots)) + (1 if knots is None or scored != snrs_db else 0)
    bar = progress_bar(total=len(RHOS) * CALLS * passes, desc="refine above the start", unit="call",
                       progress=progress)
    iterations = 0
    if knots is not None:  # a table on the finish's SNRs: each SNR's term depends on its knot's log-gains alone
        for g, k in enumerate(knots):
            gain_mu, gain_lam = (x[k].detach().clone().requires_grad_(True) for x in gains)
            iterations += _stages([gain_mu, gain_lam], _knot_term(H1, snrs_db[g], len(knots), theta_mu, theta_lam,
                                                                  gain_mu, gain_lam, margin, rho, model.n_rf),
                                  rho, bar)
            with torch.no_grad():
                gains[0][k] = gain_mu
                gains[1][k] = gain_lam
    objective = joint(scored)  # the last pass's, and the record's
    if knots is None or scored != snrs_db:  # one L-BFGS over everything (after the knots: their SNRs and between)
        iterations += _stages([theta_mu, theta_lam, *gains], objective, rho, bar)
    bar.close()
    with torch.no_grad():
        model.mu.copy_(theta_mu.exp().to(model.mu.dtype))
        model.lam.copy_(theta_lam.exp().to(model.lam.dtype))
        for name, gain in zip(("mu_snr", "lam_snr"), gains):
            getattr(model, name).copy_(gain.to(model.mu.dtype))
        loss, R = objective()
    record = {"refine": "lbfgs", "loss": float(loss), "rate_last": float(R[-1].mean()),
              "lowest_layer_minus_start": float((R[1:] - R[0]).min()), "iterations": iterations}
    if scored:
        record["per_snr"] = {f"{x:g}": {"rate_last": float(R[-1, g]), "lowest_layer_minus_start":
                                        float((R[1:, g] - R[0, g]).min())} for g, x in enumerate(scored)}
    return record


def _with_between(snrs_db: Any, between: int) -> Any:
    """The finish's SNRs and, for ``between > 0``, that many evenly spaced SNRs inside each gap
    between two neighbouring ones (sorted); ``snrs_db`` itself when ``between`` is 0."""
    if not between:
        return snrs_db
    points = sorted(set(float(x) for x in snrs_db))
    inner = [a + (b - a) * j / (between + 1) for a, b in zip(points, points[1:]) for j in range(1, between + 1)]
    return tuple(sorted(points + inner))


def _knot_term(H1: Any, snr_db: float, groups: int, theta_mu: torch.Tensor, theta_lam: torch.Tensor,
               gain_mu: torch.Tensor, gain_lam: torch.Tensor, margin: float, rho: list[float], n_rf: int) -> Any:
    """One knot's term of the objective (its SNR, its log-gains; the shared steps fixed): the
    table's steps at a knot are that knot's alone, so the knots' terms are independent."""
    B = H1.re.shape[0]
    p_g = torch.full((B,), float(snr_db_to_power(np.array([snr_db], dtype=np.float64))[0]), dtype=H1.re.dtype)
    n_g = torch.ones_like(p_g)
    mu0, lam0 = theta_mu.detach().exp(), theta_lam.detach().exp()

    def term() -> tuple[torch.Tensor, torch.Tensor]:
        _, rates = pga_forward(H1, p_g, n_g, mu0 * gain_mu.exp(), lam0 * gain_lam.exp(), n_rf, trajectory=True)
        R = torch.stack([r.mean() for r in rates])
        return -R[-1] / groups + rho[0] * (torch.relu(R[0] + margin - R[1:]) ** 2).sum(), R

    return term


def _knot_of_each_snr(law: Any, snrs_db: Any) -> list[int] | None:
    """For a step table whose knots are the finish's SNRs, each SNR's knot (the objective then
    splits into one term per knot, each refined alone with the shared steps fixed); else None."""
    if law is None or law.law != "table" or not snrs_db or sorted(float(x) for x in snrs_db) != list(law.snr_db):
        return None
    return [law.snr_db.index(float(x)) for x in snrs_db]


def _stages(params: list[torch.Tensor], objective: Any, rho: list[float], bar: Any) -> int:
    """The continuation of the module notes on ``params``: per weight in ``RHOS`` (set into
    ``rho[0]``, which ``objective`` reads) a fresh L-BFGS, ``CALLS`` calls; returns the iterations.

    A call that leaves a parameter or the objective non-finite (or whose line search fails on a
    NaN) is undone and ends its stage: a twelve-knot table's finish once ended with an infinite
    log-gain after 35 minutes (2026-12-06), which the model directory then refused to save."""
    iterations = 0
    for weight in RHOS:
        rho[0] = weight
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=MAX_ITER, history_size=20, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss, _ = objective()
            loss.backward()
            return loss

        for call in range(CALLS):
            kept = [p.detach().clone() for p in params]
            try:
                opt.step(closure)
                failed = False
            except IndexError:  # torch's strong-Wolfe search indexes past its bracket when it meets NaN
                failed = True
            bar.update()
            with torch.no_grad():
                finite = (not failed and all(bool(torch.isfinite(p).all()) for p in params)
                          and bool(torch.isfinite(objective()[0])))
                if not finite:
                    for p, k in zip(params, kept):
                        p.copy_(k)
            if not finite:
                bar.update(CALLS - 1 - call)
                break
        iterations += int(opt.state[params[0]]["n_iter"])
    return iterations
