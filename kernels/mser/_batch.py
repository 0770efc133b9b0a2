"""Private Numba batch drivers of MSER's hardware datapath: :func:`kernels.mser._fixed.channel_fx`
on every channel of a batch, in the calling thread or spread over the threads."""

from __future__ import annotations

from hbf_edge.kernels._core.batching import serial_channels, threaded_channels
from hbf_edge.kernels._core.jit import njit
from hbf_edge.kernels.mser._fixed import channel_fx


@njit(cache=True, nogil=True)
def batch_fx_range(hr, hi, tf, vr, vi, tu, wr, wi, g, ap_r, ap_i, aw_r, aw_i, au, af, op_r, op_i, ow_r, ow_i, ou, of_,
                   ws, wc, wsf, wcf, sym_r, sym_i, ktab, lc, ls, oc, os_, uc, us_, power, rad, abits, qi, qbs, qus,
                   refit, qam, fm, cnt, cf, cu, first, stop, b0, b1):  # pragma: no cover - compiled
    """:func:`channel_fx` (iterations ``first .. stop - 1``) on channels ``b0 .. b1 - 1`` of a batch
    (leading axis), one after the other; each channel writes only its own rows of the words, codes
    and counters."""
    for b in range(b0, b1):
        channel_fx(hr[b], hi[b], tf[b], vr[b], vi[b], tu[b], wr[b], wi[b], g[b], ap_r, ap_i, aw_r, aw_i, au, af, op_r,
                   op_i, ow_r, ow_i, ou, of_, ws, wc, wsf, wcf, sym_r, sym_i, ktab, lc, ls, oc, os_, uc, us_, power, rad,
                   abits, qi, qbs, qus, refit, qam, fm, cnt[b], cf[b], cu[b], first, stop)


def batch_fx(*args):
    """:func:`batch_fx_range` on every channel in the calling thread; ``args``: its own without the
    channel range."""
    serial_channels(batch_fx_range, *args)


def batch_fx_parallel(*args):
    """The same in chunks on the threads (:func:`kernels._core.batching.threaded_channels`: the
    serial loop's compiled code on each chunk, so the result is the serial one)."""
    threaded_channels(batch_fx_range, *args)
