"""Numba real-arithmetic kernels for the unfolded networks (numpy and numba only, no torch).

One module per network family; each has private ``@njit(cache=True)`` kernels beside public
wrappers that check dtype, shape, contiguity and finiteness and allocate the outputs.

* :mod:`kernels.upga.forward` -- unfolded PGA (``upga_multiuser_hbf.txt``), float32 / float64;
* :mod:`kernels.upga.hardware` -- its bit-accurate fixed-point hardware mode, and
  :mod:`kernels.upga.hw_session` its real-time path (one model, call after call);
* :mod:`kernels.upganet.forward` -- UPGANet for joint communications and sensing
  (``upganet_jcas.txt``), float32 / float64;
* :mod:`kernels.upganet.hardware` -- its bit-accurate fixed-point hardware mode;
* :mod:`kernels.deepfp.forward` -- DeepFP (``deepfp.txt``), float64, step DNNs included;
* :mod:`kernels.deepfp.hardware` -- its hardware mode: integer step DNNs, fixed-point V;
* :mod:`kernels.mser.forward` -- the MSER network (``mser_unfolding_hbf.txt``), float64;
* :mod:`kernels.mser.hardware` -- its bit-accurate integer datapath (codes at the BS and every user);
* :mod:`kernels.jcehb.forward` -- the JCEHB per-slot network, CEDUN + HBDUN
  (``mixed_timescale_jcehb.txt``), float64;
* :mod:`kernels._core.tables` -- the code -> (cos, sin) table and format rows from the hardware spec.

Importing the package is light: numba is imported (and kernels compiled or loaded from the
cache) on first use of a kernel, so tools that only read specs or tables stay fast.
"""

from __future__ import annotations

from hbf_edge._lazy import lazy_exports
from hbf_edge.families._registry import Registry

# family -> kernel stage (hbf_edge.families._protocol.KernelStage), one line per family
REGISTRY = Registry("kernels", {
    "upga": "hbf_edge.kernels.upga.stage:KERNELS",
    "upganet": "hbf_edge.kernels.upganet.stage:KERNELS",
    "deepfp": "hbf_edge.kernels.deepfp.stage:KERNELS",
    "mser": "hbf_edge.kernels.mser.stage:KERNELS",
    "jcehb": "hbf_edge.kernels.jcehb.stage:KERNELS",
})

_PUBLIC = {
    "forward": "_api",
    "forward_hw": "_api",
    "UpgaSteps": "upga.forward",
    "UpgaSession": "upga.forward",
    "load_upga": "upga.forward",
    "upga_forward": "upga.forward",
    "upga_init": "upga.forward",
    "upga_layers": "upga.forward",
    "upga_iterates": "upga.forward",
    "f_step": "upga.forward",
    "w_step": "upga.forward",
    "UpganetModel": "upganet.forward",
    "load_upganet": "upganet.forward",
    "upganet_forward": "upganet.forward",
    "upganet_forward_hw": "upganet.hardware",
    "load_upganet_hw": "upganet.hardware",
    "UPGANET_COUNTER_SITES": "upganet.hardware",
    "HardwareResult": "upga.hardware",
    "UpgaHwSession": "upga.hw_session",
    "upga_forward_hw": "upga.hardware",
    "CodeSearch": "upga.hardware",
    "check_hardware_spec": "upga.hardware",
    "COUNTER_SITES": "upga.hardware",
    "DeepfpModel": "deepfp.forward",
    "load_deepfp": "deepfp.forward",
    "deepfp_forward": "deepfp.forward",
    "deepfp_forward_hw": "deepfp.hardware",
    "int_dnn": "deepfp.hardware",
    "DEEPFP_COUNTER_SITES": "deepfp.hardware",
    "MserModel": "mser.forward",
    "load_mser": "mser.forward",
    "mser_forward": "mser.forward",
    "load_mser_hw": "mser.hardware",
    "mser_forward_hw": "mser.hardware",
    "JcehbModel": "jcehb.forward",
    "load_jcehb": "jcehb.forward",
    "jcehb_slot": "jcehb.forward",
    "phase_lut": "_core.tables",
    "format_table": "_core.tables",
}

__all__ = sorted(_PUBLIC) + ["REGISTRY"]


__getattr__, __dir__ = lazy_exports(__name__, _PUBLIC)
