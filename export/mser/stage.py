"""The export stage of MSER: the transceiver bundle (:mod:`export.mser.bundle`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.families._settings import ExportCommon

__all__ = ["EXPORT", "MserExportStage", "MserExport"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class MserExport(ExportCommon):
    """``hbf-edge export`` of a quantized MSER model: per channel, the integer datapath's codes
    for the BS's and every user's phase shifters and its V and W words, with the datapath's
    constant words (datapath.npz, datapath.h, one .mem file per ROM), for ``hbf-edge simulate``
    (K + 1 front ends, scored by SER); with the float
    network as model.onnx and the integer datapath as model.int.onnx, both checked in onnxruntime
    (the integer graph code for code and word for word against the kernel)."""

    snr: float = field(15.0, "SNR of the designs in dB (default 15)")


class MserExportStage:
    """:class:`~hbf_edge.families._protocol.ExportStage` of MSER."""

    export_settings = MserExport

    def profile_backends(self) -> dict[str, Any]:
        """onnxruntime on the network's float graph, and on a quantized model's integer graph
        (:mod:`export.mser.profile`)."""
        from hbf_edge.export.mser.profile import onnxruntime_mser, onnxruntime_mser_int

        return {"onnxruntime": onnxruntime_mser, "onnxruntime_int": onnxruntime_mser_int}

    def export(self, s: MserExport, core: Any, say: Say = log_say) -> Path:
        from hbf_edge.export.mser.bundle import write_mser_bundle
        from hbf_edge.families.mser.config import refuse_candidates, refuse_cnn
        from hbf_edge.modelfiles import read_model_dir

        config, _ = read_model_dir(s.model_dir)
        refuse_cnn(config.family_config, s.model_dir, "export writes")
        refuse_candidates(config.family_config, s.model_dir, "export writes")
        H = core.read_channels(s.channels, config) if s.channels is not None else core.draw_channels(
            config, s.count, s.seed)
        path = write_mser_bundle(s.model_dir, s.out, H, s.snr, overwrite=s.overwrite)
        info = json.loads((path / "transceiver.json").read_text())
        say(f"transceiver bundle written to {path}: {info['n_designs']} designs at {s.snr:g} dB for the BS and "
            f"{info['sizes']['n_users']} user front ends, integer datapath overflows {sum(info['counters'].values())}; "
            f"replay it with `hbf-edge simulate {path}`")
        return path


EXPORT = MserExportStage()
