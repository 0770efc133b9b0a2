"""``copy_into(dst, src)``: an element copy between two C-contiguous arrays of one shape, in
place of Numba's slice assignment ``dst[:] = src``.

Why: a slice assignment with an array on the right compiles Numba's shape-mismatch message with
it (``raise_with_shape_context``: string formatting, once per process and pair of ranks), which
cost 12.5 s of the suite's compilation at five kernels (2.6-3.5 s at four of them, 0.4 s at
the fifth; 2026-12-07, ``--numba-compile-log``) and 6.7 s in a first demo's background process; a function with the
assignment alone compiled in 5.1 s against 0.8 s with this loop (a fresh process, default
optimisation, ``scratch/s75/cpy.py``).  The kernels copy between their own buffers, whose shapes
are equal by construction, so the message never had anything to say.
"""

from __future__ import annotations

from hbf_edge.kernels._core.jit import njit

__all__ = ["copy_into"]


@njit(cache=True, inline="always")
def copy_into(dst, src):  # pragma: no cover - compiled
    """``dst[...] = src`` element by element (both C-contiguous, ``src.size == dst.size``)."""
    d = dst.reshape(dst.size)
    s = src.reshape(src.size)
    for i in range(d.size):
        d[i] = s[i]
