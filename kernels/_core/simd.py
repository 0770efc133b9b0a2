"""Sums over samples for several outputs at once, each in its own order: vector code written in
LLVM IR where Numba's loop vectoriser cannot go.

Why: a sum ``m = sum_j t_j s_j`` (or ``t_j conj(s_j)``) kept in sample order (strict IEEE, :mod:`kernels.mser._float`
says why the MSER kernels keep it) is a chain of dependent adds; the only vector work in it is
across outputs, several columns ``s`` for the same ``t``.  Numba runs LLVM's loop vectoriser but
not its SLP vectoriser: a loop over 8 columns inside the sample loop (a constant count) was
unrolled into scalar code (the assembly has no packed multiply), the columns as locals stayed
scalar too (``scratch/s67/bsh8.py``, ``scratch/s66/bsh_ab.py``: 1.5-2.9 against 1.55 us), and a
loop over a runtime count of columns was slower still (3.50 us; why was not looked into).
Here each column is a lane of an LLVM vector, and each lane does exactly the scalar loop's
operations in its order (``acc + ((t_r s_r + t_i s_i))``, separate multiplies and adds: no
fast-math flags, so no fused multiply-add), so every output has the scalar loop's bits.  LLVM
lowers the 4-lane vectors to whatever the CPU has (one AVX2 register, two SSE registers).
Measured: 3 rows x 6 columns x 128 samples, 1.55 us as two columns per pass in scalar code
against 0.50 us here, 3 x 4 x 128 1.07 against 0.26 (2026-12-06, Zen 4, one thread,
``scratch/s67/tl.py``; 8 lanes: 0.63 for both).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hbf_edge.kernels._core.jit import njit

__all__ = ["LANES", "block_conj_sums", "block_sums", "padded_copy", "padded_transpose", "rows_conj_sums_1",
           "rows_conj_sums_2", "rows_conj_sums_3", "rows_sums_1", "rows_sums_2", "rows_sums_3"]

LANES = 4  # the columns of one call


def _is_matrix(a) -> bool:
    return isinstance(a, types.Array) and a.dtype == types.float64 and a.ndim == 2 and a.layout == "C"


def _rows_sums(n_rows: int, conj: bool):
    """The intrinsic for ``n_rows`` rows (their chains interleave, so the adds' latency overlaps)
    of ``t s`` (``conj``: ``t conj(s)``)."""

    @intrinsic
    def rows_sums(typingctx, t_r, t_i, i0, st_r, st_i, c0, out_r, out_i):
        """``out[i, c0 + l] = sum_j t[i, j] s[j, c0 + l]`` (``rows_conj_sums_*``: times
        ``conj(s[j, c0 + l])``) for rows ``i0 .. i0 + n_rows - 1`` and ``LANES`` columns from
        ``c0``, each summed over ``j`` in order as the scalar loop sums it: ``ar += t_r s_r - t_i
        s_i; ai += t_r s_i + t_i s_r`` (:func:`kernels._core.linalg.matmul`'s terms), conjugated
        ``ar += t_r s_r + t_i s_i; ai += t_i s_r - t_r s_i``.  ``t`` [R, J], ``s`` [J, W], ``out``
        [R, W], float64 C-contiguous; ``c0 + LANES <= W`` (not checked)."""
        if not all(_is_matrix(a) for a in (t_r, t_i, st_r, st_i, out_r, out_i)):
            return None
        if not (isinstance(i0, types.Integer) and isinstance(c0, types.Integer)):
            return None
        sig = types.void(t_r, t_i, i0, st_r, st_i, c0, out_r, out_i)

        def codegen(context, builder, signature, args):
            a = signature.args
            tr, ti, sr_, si_, or_, oi_ = (context.make_array(a[n])(context, builder, args[n])
                                          for n in (0, 1, 3, 4, 6, 7))
            row0 = context.cast(builder, args[2], a[2], types.intp)
            col0 = context.cast(builder, args[5], a[5], types.intp)
            n_j = builder.extract_value(tr.shape, 1)
            width_s = builder.extract_value(sr_.shape, 1)
            width_o = builder.extract_value(or_.shape, 1)
            vec = ir.VectorType(ir.DoubleType(), LANES)
            vptr = vec.as_pointer()
            zero = ir.Constant(vec, [0.0] * LANES)
            lane0 = ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES)
            rows = [builder.add(row0, ir.Constant(row0.type, r)) for r in range(n_rows)]
            starts = [builder.mul(r, n_j) for r in rows]
            accs = [(cgutils.alloca_once_value(builder, zero), cgutils.alloca_once_value(builder, zero))
                    for _ in range(n_rows)]

            def splat(x):
                v = builder.insert_element(ir.Constant(vec, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
                return builder.shuffle_vector(v, ir.Constant(vec, ir.Undefined), lane0)

            def lanes_at(ary, offset):
                return builder.bitcast(builder.gep(ary.data, [offset]), vptr)

            with cgutils.for_range(builder, n_j) as loop:
                j = loop.index
                at = builder.add(builder.mul(j, width_s), col0)
                s_r = builder.load(lanes_at(sr_, at), align=8)
                s_i = builder.load(lanes_at(si_, at), align=8)
                for (acc_r, acc_i), start in zip(accs, starts):
                    p = builder.add(start, j)
                    x = splat(builder.load(builder.gep(tr.data, [p])))
                    y = splat(builder.load(builder.gep(ti.data, [p])))
                    if conj:
                        re_ = builder.fadd(builder.fmul(x, s_r), builder.fmul(y, s_i))
                        im_ = builder.fsub(builder.fmul(y, s_r), builder.fmul(x, s_i))
                    else:
                        re_ = builder.fsub(builder.fmul(x, s_r), builder.fmul(y, s_i))
                        im_ = builder.fadd(builder.fmul(x, s_i), builder.fmul(y, s_r))
                    builder.store(builder.fadd(builder.load(acc_r), re_), acc_r)
                    builder.store(builder.fadd(builder.load(acc_i), im_), acc_i)
            for (acc_r, acc_i), r in zip(accs, rows):
                at = builder.add(builder.mul(r, width_o), col0)
                builder.store(builder.load(acc_r), lanes_at(or_, at), align=8)
                builder.store(builder.load(acc_i), lanes_at(oi_, at), align=8)
            return context.get_dummy_value()

        return sig, codegen

    return rows_sums


rows_sums_1, rows_sums_2, rows_sums_3 = (_rows_sums(n, False) for n in (1, 2, 3))
rows_conj_sums_1, rows_conj_sums_2, rows_conj_sums_3 = (_rows_sums(n, True) for n in (1, 2, 3))


@njit(cache=True)
def block_sums(tr, ti, st_r, st_i, i_lo, i_hi, lo, hi, out_r, out_i):  # pragma: no cover - compiled
    """Rows ``i_lo .. i_hi - 1`` of ``T S`` into ``out`` [R, W] for columns ``lo .. hi - 1`` and
    the rest of their blocks of :data:`LANES` (``S`` [J, W], W a multiple of LANES:
    :func:`padded_copy`, :func:`padded_transpose`), three rows at a time, then two or one
    (:func:`rows_sums_3` ...)."""
    c = lo - lo % LANES
    while c < hi:
        i = i_lo
        while i + 2 < i_hi:
            rows_sums_3(tr, ti, i, st_r, st_i, c, out_r, out_i)
            i += 3
        if i + 1 < i_hi:
            rows_sums_2(tr, ti, i, st_r, st_i, c, out_r, out_i)
        elif i < i_hi:
            rows_sums_1(tr, ti, i, st_r, st_i, c, out_r, out_i)
        c += LANES


# block_sums again for the other form.  Why a copy: with the form as an argument, its branch inside
# the blocks cost ~1 us a paper-size MSER layer (2026-12-06), and a function made by a factory
# closes over the intrinsics, which Numba's cache keys by their pickled bytes, different in every
# process (never a cache hit).
@njit(cache=True)
def block_conj_sums(tr, ti, st_r, st_i, i_lo, i_hi, lo, hi, out_r, out_i):  # pragma: no cover - compiled
    """:func:`block_sums` of ``T conj(S)`` (:func:`rows_conj_sums_3` ...)."""
    c = lo - lo % LANES
    while c < hi:
        i = i_lo
        while i + 2 < i_hi:
            rows_conj_sums_3(tr, ti, i, st_r, st_i, c, out_r, out_i)
            i += 3
        if i + 1 < i_hi:
            rows_conj_sums_2(tr, ti, i, st_r, st_i, c, out_r, out_i)
        elif i < i_hi:
            rows_conj_sums_1(tr, ti, i, st_r, st_i, c, out_r, out_i)
        c += LANES


@njit(cache=True)
def padded_copy(src_r, src_i, dst_r, dst_i):  # pragma: no cover - compiled
    """``dst = [src, 0]``: the rows of ``src`` [P, Q] in ``dst`` [P, W], zero past Q."""
    P, Q = src_r.shape
    for p in range(P):
        for q in range(Q):
            dst_r[p, q] = src_r[p, q]
            dst_i[p, q] = src_i[p, q]
        for q in range(Q, dst_r.shape[1]):
            dst_r[p, q] = 0.0
            dst_i[p, q] = 0.0


@njit(cache=True)
def padded_transpose(src_r, src_i, dst_r, dst_i):  # pragma: no cover - compiled
    """``dst = [src^T, 0]``: ``src`` [Q, P] transposed into ``dst`` [P, W], zero past Q."""
    Q, P = src_r.shape
    for p in range(P):
        for q in range(Q):
            dst_r[p, q] = src_r[q, p]
            dst_i[p, q] = src_i[q, p]
        for q in range(Q, dst_r.shape[1]):
            dst_r[p, q] = 0.0
            dst_i[p, q] = 0.0
