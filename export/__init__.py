"""Exporters: the lookup-table bundle (and, next, ONNX) for targets and the RF controller.

* :mod:`export._core.tables` -- phase, vector-modulator and step tables from the hardware spec;
* :mod:`export._core.cfiles` -- ``lut.h`` and ``$readmemh`` files, with parsers;
* :mod:`export._core.bundle` -- the verified bundle: writer and reader;
* :mod:`export._core.firmware` -- the bundle's C datapath built and verified per toolchain.
"""

from hbf_edge.export._api import export, firmware, profile_backends
from hbf_edge.export._core.bundle import (
    SCHEMA_VERSION,
    Bundle,
    BundleError,
    read_bundle,
    read_key,
    sign_bundle,
    write_bundle,
    write_key,
)
from hbf_edge.export._core.cfiles import c_header, parse_header, parse_mem
from hbf_edge.export._core.tables import build_tables, vector_modulator_table

from hbf_edge.families._registry import Registry

# family -> export stage (hbf_edge.families._protocol.ExportStage), one line per family
REGISTRY = Registry("export", {
    "upga": "hbf_edge.export.upga.stage:EXPORT",
    "upganet": "hbf_edge.export.upganet.stage:EXPORT",
    "deepfp": "hbf_edge.export.deepfp.stage:EXPORT",
    "jcehb": "hbf_edge.export.jcehb.stage:EXPORT",
    "mser": "hbf_edge.export.mser.stage:EXPORT",
})

__all__ = [
    "REGISTRY",
    "sign_bundle",
    "read_key",
    "write_key",
    "export",
    "firmware",
    "profile_backends",
    "SCHEMA_VERSION",
    "Bundle",
    "BundleError",
    "read_bundle",
    "write_bundle",
    "c_header",
    "parse_header",
    "parse_mem",
    "build_tables",
    "vector_modulator_table",
]
