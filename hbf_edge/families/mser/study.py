"""``python -m hbf_edge.families.mser.study``: the MSER measurements of the README, as one
command until MSER is a registered family (issue 20).

Tunes the GD steps on validation channels (seed 7) for L and for 200 iterations, trains the
unfolded network from the L-iteration steps, and prints JSON: the steps, the training history
and the exact SER of the alignment start, GD-L, the network and GD-200 on the test channels
(seed 2026) at each SNR.  Defaults: the spec's embedded configuration (N_t=32, R_t=4, K=2,
N_r=4, R_r=2, D_k=2, QPSK, L=8, J=64), 300 training and 100 validation channels, 15 dB.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Sequence

import numpy as np
import torch

from hbf_edge.families.mser.gd import DEFAULT_STEPS, GdSteps, dft_alignment, gd, tune_steps
from hbf_edge.families.mser.ser import ser_semi_analytic
from hbf_edge.families.mser.system import MserSizes, mser_channels, noise_std
from hbf_edge.families.mser.train import MserTrainConfig, starts, train_mser

__all__ = ["run", "main"]


def _steps(s: GdSteps) -> list[float]:
    return [s.mu_p, s.mu_w, s.mu_theta_u, s.mu_theta_f]


def run(sizes: MserSizes, layers: int = 8, epochs: int = 20, lr: float = 0.02,
        snr_train: tuple[float, float] = (15.0, 15.0), snr_test: Sequence[float] = (5.0, 15.0, 25.0),
        tune: bool = True, n_test: int = 300, n_samples: int = 64) -> dict[str, Any]:
    """The measurement (module notes); ``tune=False`` keeps the spec's steps (``DEFAULT_STEPS``)."""
    out: dict[str, Any] = {"sizes": sizes.__dict__, "layers": layers, "epochs": epochs, "lr": lr}
    H_val = mser_channels(50, sizes, seed=7)
    sigma = float(noise_std(15.0))
    t0 = time.perf_counter()
    steps_l, steps_long = DEFAULT_STEPS, DEFAULT_STEPS
    if tune:
        steps_l, _ = tune_steps(H_val, sizes, sigma, layers, n_samples=n_samples, seed=1)
        steps_long, _ = tune_steps(H_val, sizes, sigma, 200, start=steps_l, n_samples=n_samples, seed=1, sweeps=1)
    out.update(steps_l=_steps(steps_l), steps_200=_steps(steps_long), tune_seconds=round(time.perf_counter() - t0, 1))
    H = mser_channels(400, sizes, seed=0)
    t0 = time.perf_counter()
    cfg = MserTrainConfig(n_layers=layers, epochs=epochs, batch_size=20, n_samples=n_samples, lr=lr,
                          snr_db_min=snr_train[0], snr_db_max=snr_train[1], steps=steps_l)
    model, history = train_mser(H[:300], H[300:], sizes, cfg, progress=False)
    out.update(train_seconds=round(time.perf_counter() - t0, 1), val_loss=[round(r["val_loss"], 5) for r in history])
    H_test = mser_channels(n_test, sizes, seed=2026)
    out["ser"] = {}
    for snr in snr_test:
        sig = float(noise_std(snr))
        with torch.no_grad():
            net = model(torch.from_numpy(H_test), starts(H_test, sizes), torch.full((n_test,), sig, dtype=torch.float64))

        def ser(d: Any) -> float:
            return float(np.mean(ser_semi_analytic(H_test, *d, sig)))

        out["ser"][f"{snr:g}"] = {"alignment": ser(dft_alignment(H_test, sizes)),
                                  f"gd{layers}": ser(gd(H_test, sizes, sig, layers, steps_l, n_samples, seed=3)),
                                  "network": ser([x.numpy() for x in net]),
                                  "gd200": ser(gd(H_test, sizes, sig, 200, steps_long, n_samples, seed=3))}
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hbf_edge.families.mser.study", description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.02)
    p.add_argument("--snr-train", type=float, nargs=2, default=[15.0, 15.0], metavar=("LOW", "HIGH"))
    p.add_argument("--spec-steps", action="store_true", help="keep the spec's GD steps instead of tuning them")
    a = p.parse_args(argv)
    sizes = MserSizes(n_tx=32, n_rf_tx=4, n_users=2, n_rx=4, n_rf_rx=2, n_streams=2)
    torch.set_num_threads(1)
    print(json.dumps(run(sizes, a.layers, a.epochs, a.lr, tuple(a.snr_train), tune=not a.spec_steps)))


if __name__ == "__main__":
    main()
