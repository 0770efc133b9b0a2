"""The real-time path of the UPGA hardware kernel: one model, one batch size, call after call.

:func:`kernels.upga.hardware.upga_forward_hw` checks its specs, builds its tables, quantises
its inputs in numpy and packs a :class:`~kernels.upga.hardware.HardwareResult` on every call;
at batch 1 that Python work cost as much as the integer datapath.  :class:`UpgaHwSession` does
the constant part once; the per-call inputs (channel, ``s2 N / P_t``, ``lambda_i N / P_t``) are
quantised and checked in a compiled call (:func:`kernels.upga._batch.quantize_inputs`), as in
``upga_forward_hw``, with the same words, codes and counters (tested bit for bit).
"""

from __future__ import annotations

import numba
import numpy as np

from hbf_edge.errors import ConfigError
from hbf_edge.hw.spec import HardwareSpec
from hbf_edge.kernels._core import checks as _checks
from hbf_edge.kernels._core.batching import SERIAL_BELOW
from hbf_edge.kernels._core.boundary import BAD_SHAPE, raise_problem
from hbf_edge.kernels._core.jit import closed
from hbf_edge.kernels._core.tables import format_row
from hbf_edge.kernels.upga import _batch
from hbf_edge.kernels.upga import _fixed as _k
from hbf_edge.kernels.upga import _search as _s
from hbf_edge.kernels.upga.hardware import (
    COUNTER_SITES,
    CodeSearch,
    HardwareResult,
    _log2_table,
    _prepared,
    check_search,
    output_stage_word,
)

__all__ = ["UpgaHwSession"]


class UpgaHwSession:
    """:func:`~kernels.upga.hardware.upga_forward_hw` with everything that does not change
    between calls done once: the specs checked, the tables built, ``mu`` and ``xi`` quantised,
    the outputs allocated.

    Parameters are those of ``upga_forward_hw`` (``mu [I, J]``, ``lam [I]``, ``spec``,
    ``layer_specs``, ``xi``, ``search``) and the batch size every call will have.

    :meth:`run` raises the same error types as ``upga_forward_hw``.  Below ``SERIAL_BELOW``
    channels one compiled call, closed to the session's types (:func:`kernels._core.jit.closed`),
    does everything: the dispatch checks dtypes, dimensions and layouts, the call the shapes, the
    values (finite, no all-zero user, powers > 0, the noise word >= 1 LSB), the counters' reset
    and the datapath; Python only names a bad input (3.2 us of Python a call before,
    2026-12-06).  Larger batches are checked in Python.  The returned arrays are the session's
    own and are overwritten by the next call: copy what you keep.
    """

    def __init__(self, mu, lam, spec: HardwareSpec, layer_specs=None, xi: float | None = None,
                 search: CodeSearch | None = None, batch: int = 1) -> None:
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be a positive integer, got {batch!r}")
        mu, self._lam = _checks.steps(mu, lam, np.dtype(np.float64))
        self.layers, self._lut_c, self._lut_s, self._n_codes, self._fms = _prepared(
            spec, None if layer_specs is None else tuple(layer_specs), self._lam.shape[0])
        self._mu, mu_over = spec.step.quantize(mu)
        self._mu_over = int(mu_over.sum())
        self._search = check_search(search, xi)
        xi_word = output_stage_word(xi, spec)
        self._last_stage = _k.NO_OUTPUT_STAGE if search is not None else xi_word
        self._xi = xi_word
        self._rows = tuple(format_row(f) for f in (spec.channel, spec.accumulator, spec.step))
        N, M, K = spec.n_antennas, spec.n_rf, spec.n_users
        B, I = batch, self._lam.shape[0]
        self.shape = (B, N, K)
        self._hq = (np.empty((B, N, K), np.int64), np.empty((B, N, K), np.int64))
        self._noise_q = np.empty(B, np.int64)
        self._lam_q = np.empty((B, I), np.int64)
        self._inputs = np.empty(B, np.int64)
        self.codes = np.empty((B, N, M), np.int64)
        self.w_re = np.empty((B, M, K), np.int64)
        self.w_im = np.empty((B, M, K), np.int64)
        self._counts = np.empty((B, len(_k.SITES)), np.int64)
        self._p_t = np.full(B, np.nan)  # no result before a successful run
        self._serial = B < SERIAL_BELOW
        if self._serial:  # one compiled call per run, closed to these types (kernels._core.jit.closed)
            self._tail = (self._lam, np.stack(self._rows), *self._hq, self._noise_q, self._lam_q, self._inputs,
                          np.int64(self._mu_over), self._mu, np.int64(self._last_stage), self._lut_c, self._lut_s,
                          self._n_codes, self._fms, self.codes, self.w_re, self.w_im, self._counts, self._p_t)
            f64 = [numba.types.Array(numba.types.float64, nd, "C") for nd in (3, 3, 1, 1)]
            self._run = closed(_batch._session_run, (*f64, *map(numba.typeof, self._tail)))
            # inputs the closed dispatch refuses but :meth:`_check` accepts (read-only, say) are
            # copied here: another signature would compile the datapath again
            self._copies = tuple(np.empty(s) for s in (self.shape, self.shape, (B,), (B,)))

    def _check(self, h_re, h_im, p_t, noise) -> None:
        """Raise the one-line error for the first input that is not this session's."""
        for name, a, shape in (("h_re", h_re, self.shape), ("h_im", h_im, self.shape),
                               ("p_t", p_t, self.shape[:1]), ("noise", noise, self.shape[:1])):
            if type(a) is not np.ndarray or a.dtype != np.float64 or a.shape != shape or not a.flags.c_contiguous:
                raise ConfigError(f"{name} must be a C-contiguous float64 array of shape {shape} (this session's)")

    def run(self, h_re: np.ndarray, h_im: np.ndarray, p_t: np.ndarray, noise: np.ndarray):
        """``(codes [B, N, M], w_re, w_im [B, M, K])`` (int64) for float64 channels ``[B, N, K]``
        and powers ``[B]``; the overflow counters are in :meth:`result`."""
        if self._serial:
            try:  # the dispatch checks dtypes, dimensions and layouts; the compiled call the shapes
                problem = self._run(h_re, h_im, p_t, noise, *self._tail)
            except TypeError:
                self._check(h_re, h_im, p_t, noise)  # names the input, or finds it is fine (read-only)
                for copy, a in zip(self._copies, (h_re, h_im, p_t, noise)):
                    np.copyto(copy, a)
                problem = self._run(*self._copies, *self._tail)
            if problem == BAD_SHAPE:
                self._check(h_re, h_im, p_t, noise)
            raise_problem(problem)
        else:
            self._check(h_re, h_im, p_t, noise)
            self._batched(h_re, h_im, p_t, noise)
        if self._search is not None:
            _s.search_fx_batch(*self._hq, self._noise_q, self._xi, self._search.sweeps, self._search.span,
                               self._lut_c, self._lut_s, self._n_codes, self._fms, self.codes, self.w_re, self.w_im,
                               self._counts, _log2_table())
        return self.codes, self.w_re, self.w_im

    def _batched(self, h_re, h_im, p_t, noise) -> None:
        """The datapath of a batch of ``SERIAL_BELOW`` channels or more: the inputs' pass, then
        the forward in parallel over the channels."""
        self._inputs[:] = self._mu_over
        self._counts[:] = 0
        ch, acc, stp = self._rows
        problem = _batch.quantize_inputs(h_re, h_im, p_t, noise, self._lam, ch, acc, stp, *self._hq, self._noise_q,
                                         self._lam_q, self._inputs)
        if not problem:
            _batch.forward_fx_batch(*self._hq, self._noise_q, self._mu, self._lam_q, self._last_stage, self._lut_c,
                                    self._lut_s, self._n_codes, self._fms, self.codes, self.w_re, self.w_im,
                                    self._counts)
        if problem:
            self._p_t[:] = np.nan  # no result until a call succeeds
            raise_problem(problem)
        self._p_t[:] = p_t

    def result(self) -> HardwareResult:
        """The last call's outputs as ``upga_forward_hw`` returns them (copies, with the
        overflow counters by site)."""
        if np.isnan(self._p_t).any():
            raise ConfigError("no result: the session has not run successfully since it was made or last failed")
        counters = {"input": self._inputs.copy()}
        counters.update({site: self._counts[:, i].copy() for i, site in enumerate(COUNTER_SITES[1:])})
        last = self.layers[-1]
        return HardwareResult(self.codes.copy(), self.w_re.copy(), self.w_im.copy(), last.precoder, counters,
                              self._p_t.copy(), last.phase_bits)
