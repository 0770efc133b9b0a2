"""The export stage of UPGA: ``hbf-edge export`` of a quantized model (:mod:`export._core.bundle`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.families._miso import warn_snrs_outside_training
from hbf_edge.families.upga.config import refuse_snr_steps
from hbf_edge.families._protocol import Say, field, log_say
from hbf_edge.families._settings import ExportCommon

__all__ = ["EXPORT", "UpgaExportStage", "UpgaExport"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class UpgaExport(ExportCommon):
    """``hbf-edge export`` of a quantized UPGA (or UPGANet) model: lut.json, lut.h, lut_*.mem,
    beams.npz (the hardware kernel's codes and W words), both ONNX graphs, manifest.json."""

    snr: float = field(10.0, "SNR in dB of the beams (default 10)")


class UpgaExportStage:
    """:class:`~hbf_edge.families._protocol.ExportStage` of UPGA (UPGANet shares it: the bundle
    writer adds its sensing parts from the model directory)."""

    export_settings = UpgaExport

    def profile_backends(self) -> dict[str, Any]:
        """Backends this stage adds to ``hbf-edge profile``: onnxruntime on the float graph (stage
        by stage) and, for a quantized model, on the shipped ``model.qcdq.onnx`` (whole)."""
        from hbf_edge.export.upga.profile import onnxruntime_stages, qcdq_whole

        return {"onnxruntime": onnxruntime_stages, "onnxruntime_qcdq": qcdq_whole}

    def export(self, s: UpgaExport, core: Any, say: Say = log_say) -> Path:
        """Write the verified bundle; ``core`` (the family's core stage) reads or draws channels."""
        return self._export(s, core, say)

    def _export(self, s: UpgaExport, core: Any, say: Say, parts: Any = None, scoring: str = "sum_rate") -> Path:
        from hbf_edge.export._core.bundle import write_bundle
        from hbf_edge.modelfiles import read_model_dir

        config, _ = read_model_dir(s.model_dir)
        refuse_snr_steps(config.family_config, s.model_dir, "export takes")
        warn_snrs_outside_training(config, [s.snr])
        if s.channels is not None:
            H = core.read_channels(s.channels, config)
        else:
            H = core.draw_channels(config, s.count, s.seed)
        path = write_bundle(s.model_dir, s.out, H, snr_db=s.snr, overwrite=s.overwrite, parts=parts, scoring=scoring)
        say(f"bundle written to {path}: {', '.join(sorted(p.name for p in path.iterdir()))}")
        return path

    def check_c(self, bundle: Path, work: Path, toolchain: Any) -> dict[str, Any]:
        """Build the bundle's C datapath with ``toolchain`` and require its test vectors
        (:func:`export._core.cmodel.check_c`; ``hbf-edge firmware``)."""
        from hbf_edge.export._core.cmodel import check_c

        return check_c(bundle, work, toolchain)

    def lut_bits(self, model_dir: Path, precision: Any) -> int:
        """Bits of the lookup tables a bundle of ``model_dir`` at ``precision`` (a
        :class:`~hbf_edge.hw.precision.PrecisionConfig`) would carry
        (what the sweep plots quality against): every table of ``lut.json`` --
        :func:`export._core.tables.build_tables` itself -- at its word length; the
        vector-modulator registers at one byte each."""
        from hbf_edge.export._core.tables import build_tables
        from hbf_edge.modelfiles import read_model_dir

        config, arrays = read_model_dir(model_dir)
        t = build_tables(dataclasses.replace(config, precision=precision.to_dict()), precision.layer_specs(), arrays)
        lut = t["formats"]["lut"]["word_bits"]
        step = t["steps"]["format"]["word_bits"]
        bits = sum(lut * (len(layer["cos"]) + len(layer["sin"])) for layer in t["layers"])
        bits += lut * (len(t["output"]["cos"]) + len(t["output"]["sin"]))
        bits += 8 * (len(t["output"]["vector_modulator"]["i"]) + len(t["output"]["vector_modulator"]["q"]))
        bits += step * int(np.size(t["steps"]["mu"]) + np.size(t["steps"]["lam"]))
        if t["output_stage"] is not None:
            bits += step + len(t["output_stage"].get("code_search", {}).get("log2_table", [])) * step
        return int(bits)


EXPORT = UpgaExportStage()
