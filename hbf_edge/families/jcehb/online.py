"""The online mixed-timescale scheme (``mixed_timescale_jcehb.txt`` Sec. VI-A, Fig. 5-6, 17-18;
spec 2.7): the analog beams are optimised while data flows, frame by frame.

At the end of frame f the BS holds ``samples`` new full-CSI samples (the paper collects 50 per
frame).  Then:

* **the network** continues its training on every sample so far: stage 1 (phases and HBDUN on
  the equivalent channel), then stage 2 (pilots, CEDUN, HBDUN on the rate from the estimate),
  ``epochs`` epochs each, from where the previous frame left it (frame 1: a fresh network on the
  RLS-SSCA beams of that frame, as offline training starts from the SSCA beams).  Each stage
  keeps its best epoch by the rate on those same samples: the BS has no other channels.  With
  the ``black-box`` design (Fig. 18) the network is the black box of
  :mod:`hbf_edge.families.jcehb.blackbox`, trained as offline in one stage on the rate, for the
  two stages' epochs together (``2 epochs`` per frame), on the same frames and beams;
* **RLS-SSCA** takes SSCA steps (20)-(22) over the frame's samples in mini-batches, its averaged
  gradient and step counter carried from frame to frame (SSCA is itself an online algorithm);
  the per-slot design is then RLS + SCA on the equivalent channel of those beams.

After every frame (and before the first) both are scored on held-out channels at the training
SNR, with one pilot-noise draw: the network as ``evaluate``'s row ``network``, RLS-SSCA as its
reference row (``reference_pilots`` RLS pilots, ``reference_iterations`` SCA iterations).

Choices where the paper is silent (spec 2.7 [C]):

* the full CSI at the end of a frame is perfect by default.  The paper estimates it with a
  "long-term CEDUN for full CSI" whose structure it does not give.  ``csi_pilots`` estimates it
  as the spec suggests, by RLS (Algorithm 1, :func:`~hbf_edge.families.jcehb.baselines.rls`, not
  unfolded) on the whole ``N_r x N_t`` channel of each user (:func:`full_csi_rls`): ``L >= N_t``
  fully digital pilots, the first ``N_t`` rows of the ``L``-point DFT with the model's pilot-power
  reading applied to all ``N_t`` antennas, received at all ``N_r`` antennas at the pilots' SNR
  (the training SNR plus the model's pilot boost) (a hybrid receiver with ``N_r^RF`` chains collects one such column in ``N_r / N_r^RF``
  slots).  ``csi_nmse_db`` instead adds white complex Gaussian error of that NMSE to every
  sample (per sample, relative to its own power);
* the network's per-frame training is the offline one continued (spec: "continued stage-1/2
  training on a growing sample buffer, one fine-tuning round per frame");
* SSCA's step ``eta`` is fixed (default 3.0, the grid value the offline design picks on the
  embedded preset); an online BS has no validation set to pick it with.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch

from hbf_edge._progress import progress_bar
from hbf_edge.errors import ConfigError
from hbf_edge.families.jcehb.baselines import rls, sca
from hbf_edge.families.jcehb.evaluate import _score
from hbf_edge.families.jcehb.model import JcehbNet
from hbf_edge.families.jcehb.system import (JcehbSizes, analog, dft_pilots, equivalent, nmse, observe,
                                            pilot_noise, pilot_noise_power, sum_rate)
from hbf_edge.families.jcehb.train import JcehbTrainConfig, SscaState, dft_start, train_jcehb

__all__ = ["OnlineConfig", "train_online", "with_csi_error", "full_csi_rls", "reference_rate"]


@dataclasses.dataclass(frozen=True)
class OnlineConfig:
    """Settings of the online scheme (module notes)."""

    frames: int = 16
    samples: int = 50
    epochs: int = 5
    csi_nmse_db: float | None = None
    csi_pilots: int | None = None
    ssca_eta: float = 3.0
    ssca_batch: int = 10
    ssca_iterations: int = 20
    reference_pilots: int = 90
    reference_iterations: int = 70

    def __post_init__(self) -> None:
        for name in ("frames", "samples", "epochs", "ssca_batch", "ssca_iterations", "reference_pilots",
                     "reference_iterations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"online {name} must be an integer >= 1, got {v!r}")
        if not (np.isfinite(self.ssca_eta) and self.ssca_eta > 0):
            raise ConfigError(f"the SSCA step eta must be finite and > 0, got {self.ssca_eta}")
        if self.csi_nmse_db is not None and not np.isfinite(self.csi_nmse_db):
            raise ConfigError(f"the full-CSI NMSE must be a finite number of dB, got {self.csi_nmse_db}")
        if self.csi_pilots is not None:
            if isinstance(self.csi_pilots, bool) or not isinstance(self.csi_pilots, int) or self.csi_pilots < 1:
                raise ConfigError(f"the full-CSI pilots must be an integer >= 1, got {self.csi_pilots!r}")
            if self.csi_nmse_db is not None:
                raise ConfigError("the full-CSI samples are either estimated by RLS (pilots) or given an NMSE, "
                                  "not both")

    def full_csi(self, H: np.ndarray, sizes: JcehbSizes, nu: float, pilot_power: str, seed: int) -> np.ndarray:
        """The frame's full-CSI samples as the BS holds them: ``H`` itself, its RLS estimate from
        ``csi_pilots`` pilots, or ``H`` with ``csi_nmse_db`` of Gaussian error (module notes)."""
        if self.csi_pilots is not None:
            return full_csi_rls(H, sizes, self.csi_pilots, nu, pilot_power, seed)
        return with_csi_error(H, self.csi_nmse_db, seed)


def with_csi_error(H: np.ndarray, nmse_db: float | None, seed: int) -> np.ndarray:
    """``H [B, K, N_r, N_t]`` plus white complex Gaussian error whose power is ``nmse_db`` below
    each sample's mean entry power (``None``: ``H`` itself)."""
    if nmse_db is None:
        return H
    rng = np.random.default_rng(seed)
    power = np.mean(np.abs(H) ** 2, axis=(1, 2, 3), keepdims=True) * 10.0 ** (nmse_db / 10.0)
    err = rng.standard_normal(H.shape) + 1j * rng.standard_normal(H.shape)
    return H + np.sqrt(power / 2.0) * err


def _check_full_pilots(sizes: JcehbSizes, pilots: int) -> None:
    if pilots < sizes.n_tx:
        raise ConfigError(f"RLS of the full N_r x N_t channel needs at least N_t = {sizes.n_tx} pilots, got {pilots}")


def full_csi_rls(H: np.ndarray, sizes: JcehbSizes, pilots: int, nu: float, pilot_power: str,
                 seed: int) -> np.ndarray:
    """RLS estimates ``[B, K, N_r, N_t]`` of the full channels ``H`` from ``pilots`` fully digital
    DFT pilots (module notes): ``Y_k = H_k X + sqrt(nu) Z_k``, ``Z`` unit-variance and seeded.
    ``pilots < N_t`` cannot identify ``H`` and is refused."""
    _check_full_pilots(sizes, pilots)
    X = dft_pilots(sizes.n_tx, pilots, pilot_power)  # [N_t, L]
    Y = H @ X + math.sqrt(nu) * pilot_noise(len(H), sizes, pilots, seed)
    return rls(X, Y)


def reference_rate(H: np.ndarray, phi_f: np.ndarray, phi_w: np.ndarray, sizes: JcehbSizes, noise: np.ndarray,
                   nu: float, pilots: int, iterations: int, pilot_power: str, pilot_boost_db: float = 0.0) -> float:
    """Mean sum rate of RLS-``pilots`` + SCA-``iterations`` on the beams ``phi`` (the design of
    ``evaluate``'s reference row, on the same slots; the pilots ``pilot_boost_db`` above the data SNR)."""
    F_s, W_s = analog(phi_f, phi_w)
    He = equivalent(H, F_s, W_s)
    X = dft_pilots(sizes.n_rf_tx, pilots, pilot_power)
    Y = observe(He, X, W_s, noise, pilot_noise_power(nu, pilot_boost_db))
    F, W = sca(rls(X, Y), F_s.conj().T @ F_s, nu, sizes.n_streams, iterations)
    return float(sum_rate(He, F, W, W_s, nu).mean())


def train_online(H_stream: np.ndarray, H_test: np.ndarray, sizes: JcehbSizes, train: JcehbTrainConfig,
                 online: OnlineConfig, start_ssca: bool = True, progress: bool = True
                 ) -> tuple[JcehbNet, tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """Run the scheme over ``online.frames`` frames of ``H_stream`` (``frames x samples``
    channels, in order); returns the network, the RLS-SSCA beams ``(phi_F, phi_W)`` and the
    record (``per_frame``: the samples so far and both test rates after each frame, frame 0 the
    start; ``history``: the network's training history of the last frame).  ``start_ssca=False``
    starts the network on the DFT beams instead of the first frame's SSCA beams."""
    if train.design not in ("joint", "black-box"):
        raise ConfigError(f"the online scheme trains the joint design or the black box, not {train.design!r}")
    need = online.frames * online.samples
    if len(H_stream) < need:
        raise ConfigError(f"the online scheme needs {online.frames} frames x {online.samples} samples = {need} "
                          f"channels; got {len(H_stream)}")
    if online.csi_pilots is not None:
        _check_full_pilots(sizes, online.csi_pilots)
    noise = pilot_noise(len(H_test), sizes, max(train.n_pilots, online.reference_pilots), train.seed + 7)
    state = SscaState(*dft_start(sizes), sizes, train.nu, online.ssca_eta, online.ssca_iterations)
    model: JcehbNet | None = None

    def fresh() -> Any:  # the network before any sample (frame 0's score)
        if train.design == "black-box":
            from hbf_edge.families.jcehb.blackbox import JcehbBlackBox

            with torch.random.fork_rng():  # its DNNs' random initial weights, seeded
                torch.manual_seed(train.seed)
                return JcehbBlackBox(sizes, train.n_pilots, train.pilot_power, train.pilot_boost_db).eval()
        return JcehbNet(sizes, train.n_pilots, train.n_hb, train.pilot_power, train.inverse,
                        pilot_boost_db=train.pilot_boost_db)

    def scores(frame: int) -> dict[str, Any]:
        net = model if model is not None else fresh()
        ref = reference_rate(H_test, *state.phases(), sizes, noise, train.nu, online.reference_pilots,
                             online.reference_iterations, train.pilot_power, train.pilot_boost_db)
        return {"frame": frame, "samples": frame * online.samples,
                "network": float(_score(net, H_test, noise, train.nu)[0].mean()),
                "rls_ssca": ref}

    per_frame, history, csi_nmse = [scores(0)], [], []
    buffer = np.empty((0, *H_stream.shape[1:]), np.complex128)
    bar = progress_bar(range(1, online.frames + 1), desc="online frames", unit="frame", progress=progress)
    for frame in bar:
        true = H_stream[(frame - 1) * online.samples:frame * online.samples]
        new = online.full_csi(true, sizes, pilot_noise_power(train.nu, train.pilot_boost_db), train.pilot_power,
                              train.seed + 1000 + frame)
        csi_nmse.append(float(nmse(new, true).mean()))  # eq. (33)'s form on the full channels
        for lo in range(0, len(new), online.ssca_batch):
            state.step(new[lo:lo + online.ssca_batch])
        buffer = np.concatenate([buffer, new])
        cfg = dataclasses.replace(train, epochs_stage1=online.epochs, epochs_stage2=online.epochs,
                                  seed=train.seed + frame)
        with torch.random.fork_rng():
            model, history = train_jcehb(buffer, buffer, sizes, cfg, model=model, progress=False,
                                         phases=state.phases() if model is None and start_ssca else None)
        per_frame.append(scores(frame))
        bar.set_postfix(network=f"{per_frame[-1]['network']:.3f}", rls_ssca=f"{per_frame[-1]['rls_ssca']:.3f}")
    mean_nmse = float(np.mean(csi_nmse)) if csi_nmse else 0.0
    record = {**dataclasses.asdict(online), "design": train.design, "start": "ssca" if start_ssca else "dft",
              "test_channels": int(len(H_test)),
              "full_csi_nmse_db": round(10.0 * math.log10(mean_nmse), 3) if mean_nmse > 0 else None,
              "per_frame": per_frame, "history": history}
    return model, state.phases(), record
