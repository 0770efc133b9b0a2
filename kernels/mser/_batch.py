"""Private Numba batch drivers of MSER's hardware datapath: :func:`kernels.mser._fixed.channel_fx`
on every channel of a batch, in the calling thread or spread over the threads."""

from __future__ import annotations

from numba import prange

from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.mser._fixed import channel_fx


@njit(cache=True)
def batch_fx(hr, hi, tf, vr, vi, tu, wr, wi, g, ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i, ow_r, ow_i, ou, of_, ws,
             wc, wsf, wcf, sym_r, sym_i, ktab, lc, ls, oc, os_, uc, us_, power, rad, abits, qi, qbs, qus, refit, qam,
             fm, cnt, cf, cu, first, stop):  # pragma: no cover - compiled
    """:func:`channel_fx` (iterations ``first .. stop - 1``) on every channel of a batch (leading axis),
    one after the other."""
    for b in range(hr.shape[0]):
        channel_fx(hr[b], hi[b], tf[b], vr[b], vi[b], tu[b], wr[b], wi[b], g[b], ap_r, ap_i, aw_r, aw_i, au, af, op_r,
                   op_i, ow_r, ow_i, ou, of_, ws, wc, wsf, wcf, sym_r, sym_i, ktab, lc, ls, oc, os_, uc, us_, power, rad,
                   abits, qi, qbs, qus, refit, qam, fm, cnt[b], cf[b], cu[b], first, stop)


@njit(cache=True, parallel=True)
def batch_fx_parallel(hr, hi, tf, vr, vi, tu, wr, wi, g, ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i, ow_r, ow_i, ou,
                      of_, ws, wc, wsf, wcf, sym_r, sym_i, ktab, lc, ls, oc, os_, uc, us_, power, rad, abits, qi, qbs,
                      qus, refit, qam, fm, cnt, cf, cu, first, stop):  # pragma: no cover - compiled
    """:func:`batch_fx` with the channels spread over the threads (each channel writes only its
    own rows of the words, codes and counters, so the result is the serial one)."""
    for b in prange(hr.shape[0]):
        channel_fx(hr[b], hi[b], tf[b], vr[b], vi[b], tu[b], wr[b], wi[b], g[b], ap_r, ap_i, aw_r, aw_i, au, af, op_r,
                   op_i, ow_r, ow_i, ou, of_, ws, wc, wsf, wcf, sym_r, sym_i, ktab, lc, ls, oc, os_, uc, us_, power, rad,
                   abits, qi, qbs, qus, refit, qam, fm, cnt[b], cf[b], cu[b], first, stop)
