"""The kernel stage of MSER: the float kernel on a model directory, and the integer hardware
datapath on a quantized one (:mod:`kernels.mser.hardware`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.kernels.mser.forward import MserModel, MserSession, load_mser, mser_forward

__all__ = ["KERNELS", "MserKernels"]


def _sizes(model: MserModel) -> Any:
    from hbf_edge.families.mser.system import MserSizes

    Nt, Rt, K, Nr, Rr, Dk = model.sizes
    return MserSizes(n_tx=Nt, n_rf_tx=Rt, n_users=K, n_rx=Nr, n_rf_rx=Rr, n_streams=Dk,
                     constellation="16qam" if model.qam else "qpsk")


class MserKernels:
    """:class:`~hbf_edge.families._protocol.KernelStage` of MSER (``snr_db``: the noise of the design)."""

    def load(self, model_dir: Path) -> MserModel:
        return load_mser(model_dir)

    def start(self, model: MserModel, H: np.ndarray, sigma: float) -> tuple[np.ndarray, ...]:
        """The model's start (:mod:`hbf_edge.families.mser.start`; default the DFT alignment of
        spec 2.4) of channels ``H`` at noise std ``sigma``."""
        from hbf_edge.families.mser.start import design_start

        return tuple(design_start(H, _sizes(model), sigma, model.start))

    def session(self, model: MserModel, H: np.ndarray, design: tuple[np.ndarray, ...], sigma: float) -> MserSession:
        """Checked inputs for repeated runs of the compiled layers from ``design`` (the profiler)."""
        return MserSession(model, H, design, sigma)

    def forward(self, model: MserModel, H: np.ndarray, snr_db: float = 15.0) -> dict[str, np.ndarray]:
        """Float64 kernel from the model's start: ``F, V, U, W`` complex128."""
        from hbf_edge.families.mser.system import noise_std

        H = np.ascontiguousarray(H, dtype=np.complex128)
        sigma = float(noise_std(snr_db))
        return dict(zip("FVUW", mser_forward(H, self.start(model, H, sigma), sigma, model)))

    def session_hw(self, model_dir: Path, H: np.ndarray, snr_db: float = 15.0, start: Any = None) -> Any:
        """The integer layers of a quantized directory prepared on the words of ``H`` and
        ``start`` (default the model's start; :class:`~hbf_edge.kernels.mser.hardware.MserHwSession`)."""
        from hbf_edge.families.mser.system import noise_std
        from hbf_edge.kernels.mser.hardware import MserHwSession, load_mser_hw

        hw = load_mser_hw(model_dir)
        H = np.ascontiguousarray(H, dtype=np.complex128)
        sigma = float(noise_std(snr_db))
        return MserHwSession(hw, H, self.start(hw.model, H, sigma) if start is None else tuple(start), sigma)

    def forward_hw(self, model_dir: Path, H: np.ndarray, snr_db: float = 15.0, start: Any = None) -> dict[str, Any]:
        """The integer datapath on channels ``H`` of a quantized directory, from ``start`` (default
        the model's start; a design, as the host computes it): the applied design
        ``F, V, U, W`` (complex128: the codes' phases, the words' values), the codes
        (``F_codes`` Q_BS bits, ``U_codes`` Q_UE bits), the words (``V_words``, ``W_words``,
        ``(re, im)`` last), the overflow ``counters`` and the ``input_words`` the datapath ran on."""
        session = self.session_hw(model_dir, H, snr_db, start)
        session.run()
        res = session.result()
        return {**dict(zip("FVUW", res.design())), "F_codes": res.F_codes, "U_codes": res.U_codes,
                "V_words": res.V, "W_words": res.W, "counters": res.counters, "formats": res.formats.to_dict(),
                "phase_bits": {"bs": res.q_bs, "ue": res.q_ue}, "input_words": session.input_words()}


KERNELS = MserKernels()
