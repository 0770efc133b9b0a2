"""The export stage of DeepFP: its own bundle, or a hybrid bundle behind a UPGA bundle's codes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.families._settings import ExportCommon

__all__ = ["EXPORT", "DeepfpExportStage", "DeepfpExport"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeepfpExport(ExportCommon):
    """``hbf-edge export`` of a DeepFP model (float or quantized): the whole network as ONNX
    (+ its 8-bit DNNs as QCDQ ONNX), the designs on the beam networks, the manifest."""

    hybrid: Path | None = field(None, "a hybrid bundle instead: DeepFP's W behind the phase codes of this UPGA "
                                      "bundle (for `hbf-edge simulate`); the model must be trained on "
                                      "`channels deepfp --hybrid` problems", metavar="PGA_BUNDLE")


class DeepfpExportStage:
    """:class:`~hbf_edge.families._protocol.ExportStage` of DeepFP."""

    export_settings = DeepfpExport

    def profile_backends(self) -> dict[str, Any]:
        return {}

    def export(self, s: DeepfpExport, core: Any, say: Say = log_say) -> Path:
        if s.hybrid is not None:
            from hbf_edge.errors import ConfigError
            from hbf_edge.export.deepfp.hybrid import write_hybrid_bundle

            if s.channels is not None:
                raise ConfigError("a hybrid bundle replays the UPGA bundle's channels: drop --channels")
            path = write_hybrid_bundle(s.model_dir, s.hybrid, s.out, seed=s.seed, overwrite=s.overwrite)
            h = json.loads((path / "manifest.json").read_text())["hybrid"]
            r = h["mean_sum_rate"]
            say(f"hybrid bundle written to {path} (DeepFP {h['deepfp_mode']} on {s.hybrid}'s codes): mean sum rate "
                f"{r['deepfp_words']:.3f} bit/s/Hz with DeepFP's W words, {r['pga_w']:.3f} with the UPGA bundle's "
                f"W, {r['fastfp_100']:.3f} with FastFP-100; {h['saturated_w_words']} saturated W words")
            return path
        from hbf_edge.export.deepfp.bundle import write_deepfp_bundle
        from hbf_edge.modelfiles import read_model_dir

        config, _ = read_model_dir(s.model_dir)
        H = core.read_channels(s.channels, config, "test") if s.channels is not None else core.draw_channels(
            config, s.count, s.seed)
        path = write_deepfp_bundle(s.model_dir, s.out, H, seed=s.seed, overwrite=s.overwrite)
        say(f"bundle written to {path}: {', '.join(sorted(p.name for p in path.iterdir()))}")
        return path


EXPORT = DeepfpExportStage()
