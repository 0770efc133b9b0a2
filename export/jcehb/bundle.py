"""The superframe bundle of a quantized JCEHB model (spec 6.1): what is programmed once per
superframe kept apart from what is streamed per slot, for ``hbf-edge simulate``.

Files (``manifest.json`` holds the sha256 of each, as for the other bundles; ``scoring`` is
``superframe``):

``superframe.json``
    Sizes, phase bits, the vector-modulator table of the codes, the word formats of the streamed
    ``F_BB`` / ``W_BB`` words, the slots' noise power, the integer datapath's overflow counters.
``beams.npz``
    Once per superframe: ``codes_bs [N_t, N_t^RF]`` and ``codes_ue [K, N_r, N_r^RF]`` (the phase
    codes of the BS and every user).  Per slot (one per channel): ``H [B, K, N_r, N_t]``, the
    integer datapath's words ``F_bb [B, N_t^RF, K N_s, 2]`` and ``W_bb [B, K, N_r^RF, N_s, 2]``
    (``(re, im)`` last), and ``kernel_sum_rate [B]``, the toolkit's score of those words.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.export._core.bundle import _write
from hbf_edge.export._core.tables import vector_modulator_table
from hbf_edge.families.jcehb.system import design_sum_rate, noise_power
from hbf_edge.hw.spec import phase_to_code

__all__ = ["write_jcehb_bundle"]


def write_jcehb_bundle(model_dir: str | os.PathLike, out: str | os.PathLike, H: np.ndarray, snr_db: float,
                       noise_seed: int, overwrite: bool = False) -> Path:
    """Run the integer datapath on one slot per channel of ``H`` and write the bundle (module notes)."""
    from hbf_edge.kernels.jcehb.stage import KERNELS
    from hbf_edge.modelfiles import read_model_dir

    config, arrays = read_model_dir(model_dir)
    Q = config.spec.phase_bits
    if config.quantization is None or Q is None:
        raise ConfigError(f"{model_dir} is a float model: export needs a quantized one (`hbf-edge quantize`)")
    H = _check_channels(config, H)
    out_hw = KERNELS.forward_hw(Path(model_dir), H, snr_db=snr_db, noise_seed=noise_seed)
    nu = noise_power(snr_db)
    rate = design_sum_rate(H, out_hw, nu)
    vm_i, vm_q = vector_modulator_table(Q)
    z = config.family_config["sizes"]
    info = {"sizes": z, "pilots": config.family_config["pilots"], "hb_layers": config.family_config["hb_layers"],
            "phase_bits": Q, "vector_modulator": {"i": vm_i.tolist(), "q": vm_q.tolist()},
            "words": {name: out_hw["formats"][name] for name in ("precoder", "combiner")},
            "snr_db": snr_db, "noise_power": nu, "noise_seed": noise_seed, "n_slots": int(H.shape[0]),
            "counters": out_hw["counters"]}
    beams = {"codes_bs": phase_to_code(arrays["phi_f"], Q), "codes_ue": phase_to_code(arrays["phi_w"], Q), "H": H,
             "F_bb": out_hw["F_bb_words"], "W_bb": out_hw["W_bb_words"], "kernel_sum_rate": rate}
    extra = {"family": config.family, "scoring": "superframe",
             "model": {k: v for k, v in config.to_dict().items() if k != "history"}}
    return _write(out, overwrite, {"superframe.json": json.dumps(info, indent=2) + "\n"}, beams, [], extra)


def _check_channels(config: object, H: np.ndarray) -> np.ndarray:
    """``H`` checked against the model's sizes (one line on a mismatch)."""
    from hbf_edge.families.jcehb.core import CORE

    return CORE.sizes(config).check_channels(H, "bundle channels")
