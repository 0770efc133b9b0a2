"""The float kernels' small inverses (``kernels/_core/linalg.py``) against numpy's."""

import numpy as np
import pytest

from hbf_edge.kernels._core.linalg import cholesky_inv, cinv, gram_inv


def _work(n, dtype):
    return [np.empty((n, n), dtype) for _ in range(2)] + [np.empty((2 * n, 2 * n), dtype) for _ in range(2)]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
@pytest.mark.parametrize("n", [1, 3, 4, 8])
def test_cholesky_inverse_of_a_gram_matrix_is_numpys(n, dtype, tol):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((32, n)) + 1j * rng.standard_normal((32, n))
    A = X.conj().T @ X
    outr, outi, lo, lo_inv = _work(n, dtype)
    assert cholesky_inv(A.real.astype(dtype), A.imag.astype(dtype), outr, outi, lo, lo_inv)
    want = np.linalg.inv(A)
    assert np.abs(outr + 1j * outi - want).max() <= tol * np.abs(want).max()


def test_a_matrix_cholesky_refuses_falls_back_to_gauss_jordan():
    """A pivot that is not positive (here an indefinite Hermitian matrix; in the kernels a Gram
    matrix that rounds to a singular one, or NaN): Cholesky refuses, leaving the output alone,
    and gram_inv returns what cinv returns, as the kernels did before it."""
    A = np.array([[1.0, 2.0 + 1.0j, 0.0], [2.0 - 1.0j, 1.0, 0.5j], [0.0, -0.5j, 3.0]])
    ar, ai = np.ascontiguousarray(A.real), np.ascontiguousarray(A.imag)
    outr, outi, lo, lo_inv = _work(3, np.float64)
    outr[:] = 7.0
    assert not cholesky_inv(ar, ai, outr, outi, lo, lo_inv)
    assert (outr == 7.0).all()
    got, want = _work(3, np.float64), _work(3, np.float64)
    gram_inv(ar, ai, *got)
    cinv(ar, ai, *want)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0] + 1j * got[1], np.linalg.inv(A), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("p, r, q", [(4, 8, 64), (64, 4, 3), (6, 8, 64), (1, 1, 1), (3, 5, 7)])
def test_wide_products_are_the_plain_ones_bit_for_bit_and_numpys(p, r, q):
    """``matmul_wide`` / ``mm_ah_wide`` sum in the same order as ``matmul`` / ``mm_ah`` (the MSER
    kernels' GD designs depend on every bit), and both equal numpy's product."""
    from hbf_edge.kernels._core.linalg import matmul, matmul_wide, mm_ah, mm_ah_wide

    rng = np.random.default_rng(p * 100 + q)
    a = rng.standard_normal((p, r)) + 1j * rng.standard_normal((p, r))
    b = rng.standard_normal((r, q)) + 1j * rng.standard_normal((r, q))
    c = rng.standard_normal((r, p)) + 1j * rng.standard_normal((r, p))
    outs = [np.empty((p, q)) for _ in range(8)]
    matmul(a.real.copy(), a.imag.copy(), b.real.copy(), b.imag.copy(), outs[0], outs[1])
    matmul_wide(a.real.copy(), a.imag.copy(), b.real.copy(), b.imag.copy(), outs[2], outs[3])
    mm_ah(c.real.copy(), c.imag.copy(), b.real.copy(), b.imag.copy(), outs[4], outs[5], 0.0)
    mm_ah_wide(c.real.copy(), c.imag.copy(), b.real.copy(), b.imag.copy(), outs[6], outs[7])
    assert np.array_equal(outs[0], outs[2]) and np.array_equal(outs[1], outs[3])
    assert np.array_equal(outs[4], outs[6]) and np.array_equal(outs[5], outs[7])
    np.testing.assert_allclose(outs[2] + 1j * outs[3], a @ b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(outs[6] + 1j * outs[7], c.conj().T @ b, rtol=1e-12, atol=1e-12)


_CHILD = """
import json
import numba
import numpy as np
from hbf_edge.kernels._core.linalg import matmul, matmul_wide

@numba.njit(fastmath={"reassoc", "nsz", "contract"})  # as the UPGA float kernels' FM
def caller(ar, ai, br, bi, outr, outi):
    matmul(ar, ai, br, bi, outr, outi)

rng = np.random.default_rng(408)
a = rng.standard_normal((4, 8)) + 1j * rng.standard_normal((4, 8))
b = rng.standard_normal((8, 64)) + 1j * rng.standard_normal((8, 64))
args = (a.real.copy(), a.imag.copy(), b.real.copy(), b.imag.copy())
o = [np.empty((4, 64)) for _ in range(6)]
caller(*args, o[0], o[1])  # compiles matmul from a fast-math caller first
matmul(*args, o[2], o[3])
matmul_wide(*args, o[4], o[5])
print(json.dumps([bool(np.array_equal(o[0], o[4]) and np.array_equal(o[1], o[5])),
                  bool(np.array_equal(o[2], o[4]) and np.array_equal(o[3], o[5]))]))
"""


def test_shared_products_stay_strict_under_a_fast_math_caller(tmp_path):
    """Numba compiles a callee that does not set ``fastmath`` with its caller's flags, and its
    cache does not key on them: a UPGA kernel (fast-math) that compiled ``matmul`` first left a
    fused binary that the strict MSER kernels then ran, in the same process or loaded from the
    cache.  The shared products set ``fastmath=False``; checked compiling and loading."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    for _ in range(2):  # the first process compiles, the second loads
        out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
        assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True]
