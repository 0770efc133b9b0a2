"""The export stage of JCEHB: the superframe bundle (:mod:`export.jcehb.bundle`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.families._settings import ExportCommon
from hbf_edge.families.jcehb.config import DEFAULT_NOISE_SEED

__all__ = ["EXPORT", "JcehbExportStage", "JcehbExport"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class JcehbExport(ExportCommon):
    """``hbf-edge export`` of a quantized JCEHB model: one superframe -- the phase codes of the BS
    and every user, programmed once -- and per slot (one per channel) the integer datapath's
    F_BB and W_BB words and the received pilots, for ``hbf-edge simulate``; with the datapath's
    constant words (datapath.npz, datapath.h, one .mem file per ROM), the float per-slot network
    as model.onnx and the integer one as model.int.onnx, both checked in onnxruntime (the integer
    graph word for word against the kernel)."""

    snr: float | None = field(None, "SNR of the slots in dB (default: the model's training SNR)")
    noise_seed: int = field(DEFAULT_NOISE_SEED, f"seed of the slots' pilot noise (default {DEFAULT_NOISE_SEED})")
    calibration: Path | None = field(None, "phase-shifter calibration table (`hbf-edge calibration`): the slots' "
                                           "pilots pass through the front ends with these per-code errors, so CEDUN "
                                           "estimates the channel the hardware has; replay with `simulate "
                                           "--calibration` and the same file", metavar="FILE")


class JcehbExportStage:
    """:class:`~hbf_edge.families._protocol.ExportStage` of JCEHB."""

    export_settings = JcehbExport

    def profile_backends(self) -> dict[str, Any]:
        """onnxruntime on the per-slot float graph, and on a quantized model's integer graph
        (:mod:`export.jcehb.profile`)."""
        from hbf_edge.export.jcehb.profile import onnxruntime_int_slot, onnxruntime_slot

        return {"onnxruntime": onnxruntime_slot, "onnxruntime_int": onnxruntime_int_slot}

    def export(self, s: JcehbExport, core: Any, say: Say = log_say) -> Path:
        import json

        from hbf_edge.export.jcehb.bundle import write_jcehb_bundle
        from hbf_edge.modelfiles import read_model_dir

        config, _ = read_model_dir(s.model_dir)
        H = core.read_channels(s.channels, config) if s.channels is not None else core.draw_channels(
            config, s.count, s.seed)
        snr = config.family_config["snr_db"] if s.snr is None else s.snr
        path = write_jcehb_bundle(s.model_dir, s.out, H, snr, s.noise_seed, overwrite=s.overwrite,
                                  calibration=s.calibration)
        info = json.loads((path / "superframe.json").read_text())
        through = "ideal front ends" if s.calibration is None else f"the front ends of {s.calibration}"
        replay = "" if s.calibration is None else f" --calibration {s.calibration}"
        say(f"superframe bundle written to {path}: {info['n_slots']} slots at {snr:g} dB, pilots through {through}, "
            f"integer datapath overflows {sum(info['counters'].values())}; replay it with `hbf-edge simulate "
            f"{path}{replay}`")
        return path


EXPORT = JcehbExportStage()
