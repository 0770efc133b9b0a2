"""The families of unfolded networks, by name (numpy only at import).

``SPECS`` holds each family's :class:`~hbf_edge.families._protocol.FamilySpec`, ``CORE`` its
core stage (:class:`~hbf_edge.families._protocol.CoreStage`); the other stages keep their own
registries (``hbf_edge.kernels.REGISTRY``, ``hbf_edge.quant.REGISTRY``,
``hbf_edge.export.REGISTRY``).  One line per family in each; families from elsewhere register
with :func:`register_family` or the entry-point group ``hbf_edge.families``.
"""

from __future__ import annotations

from hbf_edge.families._protocol import CoreStage, ExportStage, FamilySpec, KernelStage, QuantStage, field
from hbf_edge.families._registry import ENTRY_POINT_GROUP, Registry, register_family

__all__ = ["SPECS", "CORE", "runs_on", "Registry", "register_family", "ENTRY_POINT_GROUP", "FamilySpec", "CoreStage",
           "KernelStage", "QuantStage", "ExportStage", "field"]

SPECS = Registry("spec", {
    "upga": "hbf_edge.families.upga.config:SPEC",
    "upganet": "hbf_edge.families.upganet.config:SPEC",
    "deepfp": "hbf_edge.families.deepfp.config:SPEC",
    "mser": "hbf_edge.families.mser.config:SPEC",
    "jcehb": "hbf_edge.families.jcehb.config:SPEC",
})
CORE = Registry("core", {
    "upga": "hbf_edge.families.upga.core:CORE",
    "upganet": "hbf_edge.families.upganet.core:CORE",
    "deepfp": "hbf_edge.families.deepfp.core:CORE",
    "mser": "hbf_edge.families.mser.core:CORE",
    "jcehb": "hbf_edge.families.jcehb.core:CORE",
})


def runs_on(family: str, datapath: str) -> bool:
    """Whether models of ``family`` run on ``datapath``'s kernels and hardware datapath (its own
    name, or the one its :class:`FamilySpec` declares)."""
    return family == datapath or SPECS.get(family).runs_on == datapath
