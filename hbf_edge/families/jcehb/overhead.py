"""Pilot signalling overhead per superframe, eq. (47)-(51) of ``mixed_timescale_jcehb.txt``
(Fig. 9): the single-timescale scheme estimates the full CSI in every slot; the offline
mixed-timescale scheme estimates only the equivalent CSI per slot plus ``N_sample`` full-CSI
samples for the statistics; the online one adds one full-CSI estimate per frame.

The paper gives neither the bits per pilot element ``q``, nor the slots per frame ``T_s``, nor
``N_sample``.  The defaults are the spec's choice (``../shared/specs/jcehb.md`` section 3.8,
checked here): ``q = 8``, ``T_s = 8``, ``N_sample = 16``.  They reproduce the text's orderings:
online = offline at n = T_f = 16 needs ``N_sample = T_f``, and offline above single timescale
at n = 2 needs ``T_s <= 9``.  The x axis is the number of frames n = 1..T_f (T_f replaced by n).
"""

from __future__ import annotations

from typing import Any

__all__ = ["signalling_bits", "DEFAULT_Q_BITS", "DEFAULT_SLOTS", "DEFAULT_SAMPLES", "DEFAULT_FRAMES"]

DEFAULT_Q_BITS, DEFAULT_SLOTS, DEFAULT_SAMPLES, DEFAULT_FRAMES = 8, 8, 16, 16


def signalling_bits(sizes: Any, pilots: int, q_bits: int = DEFAULT_Q_BITS, slots: int = DEFAULT_SLOTS,
                    samples: int = DEFAULT_SAMPLES, frames: int = DEFAULT_FRAMES) -> dict[str, Any]:
    """Signalling bits of the three schemes for n = 1..``frames`` frames (module notes)."""
    q_full = q_bits * (sizes.n_rx * sizes.n_rf_rx + sizes.n_tx * sizes.n_rf_tx + sizes.n_rf_tx * pilots)  # (47)
    q_eq = q_bits * sizes.n_rf_tx * pilots  # (48)
    n = list(range(1, frames + 1))
    return {
        "frames": n,
        "single": [f * slots * q_full for f in n],  # (49)
        "offline": [f * slots * q_eq + samples * q_full for f in n],  # (50)
        "online": [f * (slots * q_eq + q_full) for f in n],  # (51)
        "per_estimate": {"full_csi": q_full, "equivalent_csi": q_eq},
        "assumptions": {"q_bits": q_bits, "slots_per_frame": slots, "statistics_samples": samples},
    }
