"""The sweep hooks of UPGANet (``hbf-edge sweep``): UPGA's (:mod:`quant.upga.sweep`) on the
JCAS network's float and integer kernels.

The metric is the sum rate, as in UPGA's hooks, against the float network on the same channels;
the beampattern term the network also optimises is not scored here (``hbf-edge quantize``'s
retention table has the beampattern MSE of each design).  The stages are ``float``,
``ptq_round``, ``hardware`` and ``qat``: PTQ-refit's zero forcing ignores the sensing task, so it
is no baseline for a JCAS design.  The UPGANet datapath takes one precision for every layer, so
a point is Q and W (no per-layer precision file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.quant.upga.sweep import UpgaSweep

__all__ = ["SWEEP", "UpganetSweep"]


def _split(H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag)


class UpganetSweep(UpgaSweep):
    """:class:`hbf_edge.families._protocol.SweepHooks` of UPGANet."""

    stages = ("float", "ptq_round", "hardware", "qat")

    def check(self, model_dir: Path, point: dict[str, Any]) -> None:
        from hbf_edge.errors import ConfigError

        if point.get("precision"):
            raise ConfigError("the UPGANet datapath takes one precision for all layers: give phase_bits and word_bits, "
                              "not a precision file")
        super().check(model_dir, point)

    def float_design(self, model_dir: Path, H: np.ndarray, p_t: np.ndarray, n: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The float64 Numba kernel (equal to the torch network, ``tests/kernels/upganet``)."""
        from hbf_edge.kernels.upganet.forward import load_upganet, upganet_forward

        f_re, f_im, w_re, w_im = upganet_forward(*_split(H), p_t, n, load_upganet(model_dir))[:4]
        return f_re + 1j * f_im, w_re + 1j * w_im

    def hardware_design(self, model_dir: Path, H: np.ndarray, p_t: np.ndarray, n: np.ndarray, point: dict[str, Any],
                        qat_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
        from hbf_edge.kernels.upganet.forward import load_upganet
        from hbf_edge.kernels.upganet.hardware import load_upganet_hw, upganet_forward_hw

        if qat_dir is not None:
            model, spec = load_upganet_hw(qat_dir)
        else:
            model, spec = load_upganet(model_dir), self.precision(model_dir, point).layer_specs()[0]
        r = upganet_forward_hw(*_split(H), p_t, n, model, spec)
        return r.analog(), r.digital()


SWEEP = UpganetSweep()
