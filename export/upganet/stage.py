"""The export stage of UPGANet: the UPGA bundle with the sensing task (:mod:`export.upganet.bundle`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hbf_edge.export.upga.stage import UpgaExport, UpgaExportStage
from hbf_edge.families._protocol import Say, log_say

__all__ = ["EXPORT", "UpganetExportStage"]


class UpganetExportStage(UpgaExportStage):
    """:class:`~hbf_edge.families._protocol.ExportStage` of UPGANet: its parts (tables with the
    sensing section, beams with the sensing grid, the float ONNX graph), scored by sum rate and
    beampattern MSE in the controller simulator."""

    export_settings = UpgaExport

    def export(self, s: UpgaExport, core: Any, say: Say = log_say) -> Path:
        from hbf_edge.export.upganet.bundle import upganet_parts

        return self._export(s, core, say, parts=upganet_parts, scoring="sum_rate+beampattern")


EXPORT = UpganetExportStage()
