"""The kernel stage of JCEHB: the per-slot float kernel on a model directory, and the integer
hardware datapath on a quantized one (:mod:`kernels.jcehb.hardware`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.families.jcehb.config import DEFAULT_NOISE_SEED, pilot_noise_seeded
from hbf_edge.kernels.jcehb.forward import JcehbModel, JcehbSession, jcehb_observe, load_jcehb

__all__ = ["KERNELS", "JcehbKernels"]


class JcehbKernels:
    """:class:`~hbf_edge.families._protocol.KernelStage` of JCEHB (``snr_db``: the noise of the
    slot; ``noise_seed``: its pilot noise draw, the one the torch network sees)."""

    def load(self, model_dir: Path) -> JcehbModel:
        return load_jcehb(model_dir)

    def observe(self, model: JcehbModel, H: np.ndarray, snr_db: float = 10.0,
                noise_seed: int = DEFAULT_NOISE_SEED) -> np.ndarray:
        """The received pilots of one slot per channel (seeded noise)."""
        Nt, N, Nr, R, K, S = model.sizes
        noise = pilot_noise_seeded(np.asarray(H).shape[0], K, Nr, model.n_pilots, noise_seed)
        return jcehb_observe(model, np.ascontiguousarray(H, dtype=np.complex128), noise, 10.0 ** (-snr_db / 10.0))

    def session(self, model: JcehbModel, H: np.ndarray, snr_db: float = 10.0,
                noise_seed: int = DEFAULT_NOISE_SEED) -> JcehbSession:
        """The compiled slot prepared on the received pilots of ``H`` (``.run()`` runs it)."""
        return JcehbSession(model, self.observe(model, H, snr_db, noise_seed), 10.0 ** (-snr_db / 10.0))

    def forward(self, model: JcehbModel, H: np.ndarray, snr_db: float = 10.0,
                noise_seed: int = DEFAULT_NOISE_SEED) -> dict[str, np.ndarray]:
        """Float64 kernel on one slot per channel: ``H_hat, F_bb, W_bb`` complex128."""
        session = self.session(model, H, snr_db, noise_seed)
        session.run()
        return dict(zip(("H_hat", "F_bb", "W_bb"), session.result()))

    def session_hw(self, model_dir: Path, H: np.ndarray, snr_db: float = 10.0,
                   noise_seed: int = DEFAULT_NOISE_SEED, beams: Any = None) -> Any:
        """The integer slot of a quantized directory prepared on the ADC words of ``H``'s slots
        (:class:`~hbf_edge.kernels.jcehb.hardware.JcehbHwSession`; ``.run()`` runs it);
        ``beams``: the applied ``(F_RF, W_RF)`` the pilots pass through (default the codes')."""
        from hbf_edge.kernels.jcehb.hardware import JcehbHwSession, load_jcehb_hw

        hw = load_jcehb_hw(model_dir)
        Nt, N, Nr, R, K, S = hw.model.sizes
        H = np.ascontiguousarray(H, dtype=np.complex128)
        noise = pilot_noise_seeded(H.shape[0], K, Nr, hw.model.n_pilots, noise_seed)
        return JcehbHwSession(hw, H, noise, 10.0 ** (-snr_db / 10.0), beams)

    def forward_hw(self, model_dir: Path, H: np.ndarray, snr_db: float = 10.0,
                   noise_seed: int = DEFAULT_NOISE_SEED, beams: Any = None) -> dict[str, Any]:
        """The integer datapath on one slot per channel of a quantized directory: the words
        (``Y``, ``H_hat``, ``F_bb``, ``W_bb``, ``(re, im)`` last), their values, the analog
        beams the slots went through (``F_rf``, ``W_rf``: ``beams``, default the codes') and the
        overflow ``counters``."""
        session = self.session_hw(model_dir, H, snr_db, noise_seed, beams)
        session.run()
        res, hw = session.result(), session.hw
        words = {"Y": res.Y, "H_hat_words": res.H_hat, "F_bb_words": res.F_bb, "W_bb_words": res.W_bb}
        F_rf, W_rf = (hw.model.F_rf, hw.model.W_rf) if beams is None else beams
        return {**words, **res.values(), "F_rf": F_rf, "W_rf": W_rf, "counters": res.counters,
                "formats": res.formats.to_dict(), "phase_bits": hw.phase_bits}


KERNELS = JcehbKernels()
