"""Numba real-arithmetic kernels (float and bit-accurate fixed point) for the unfolded networks.

Imports numpy and numba only; never torch.  The kernels themselves arrive with the kernels
issue; the package exists now so that the layout the user fixed is in place.
"""

__all__: list[str] = []
