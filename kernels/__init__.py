"""Numba real-arithmetic kernels for the unfolded networks (numpy and numba only, no torch).

One module per network family; each has private ``@njit(cache=True)`` kernels beside public
wrappers that check dtype, shape, contiguity and finiteness and allocate the outputs.

* :mod:`kernels.upga` -- unfolded PGA (``upga_multiuser_hbf.txt``), float32 / float64.
"""

from .upga import UpgaSteps, f_step, load_upga, upga_forward, upga_init, upga_layers, w_step

__all__ = ["UpgaSteps", "load_upga", "upga_forward", "upga_init", "upga_layers", "f_step", "w_step"]
