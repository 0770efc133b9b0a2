"""``copy_into`` (``kernels/_core/copy.py``): the kernels' element copy in place of slice assignment."""

import numpy as np
import pytest

from hbf_edge.kernels._core.copy import copy_into
from hbf_edge.kernels._core.jit import njit


@njit(cache=True)
def _copy_row(dst, src, b):  # pragma: no cover - compiled
    copy_into(dst[b], src)  # a row of a batch, as the kernels use it


@pytest.mark.parametrize("shape, dtype", [((5,), np.int64), ((3, 4), np.float64), ((2, 3, 4), np.complex128),
                                          ((4, 4), np.int32)])
def test_copy_into_writes_every_element_of_the_destination(shape, dtype):
    rng = np.random.default_rng(1)
    src = (rng.standard_normal(shape) * 100).astype(dtype)
    if np.iscomplexobj(src):
        src = src + 1j * rng.standard_normal(shape)
    batch = np.zeros((3, *shape), dtype)
    _copy_row(batch, src, 1)
    assert np.array_equal(batch[1], src) and not batch[0].any() and not batch[2].any()
