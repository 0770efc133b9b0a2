"""Public wrappers of the UPGA float kernels: validate, allocate outputs, call the kernel.

Paper ``upga_multiuser_hbf.txt``, Algorithm 1.  Arrays are batch first, real and imaginary
parts apart, all of one dtype (float32 or float64), C-contiguous:

* ``h_re, h_im : [B, N, K]`` channels (column k is h_k);
* ``f_re, f_im : [B, N, M]`` analog precoder; ``w_re, w_im : [B, M, K]`` digital precoder;
* ``p_t, noise : [B]`` transmit and noise power (linear, > 0);
* ``mu : [I, J]``, ``lam : [I]`` step sizes (any float dtype; converted).

Every wrapper raises ``TypeError`` (wrong dtype, not contiguous) or ``ValueError`` (wrong
shape, NaN/inf or all-zero channel, power <= 0) before any kernel runs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import numpy as np

from hbf_edge.kernels._core import checks as _checks
from hbf_edge.kernels._core.batching import SERIAL_BELOW
from hbf_edge.kernels._core.boundary import BAD_SHAPE, raise_problem, value_problem
from hbf_edge.kernels.upga import _float_batch as _k
from hbf_edge.kernels.upga._float_sized import size_tuple, sized_forward

__all__ = ["UpgaSteps", "UpgaSession", "load_upga", "upga_forward", "upga_init", "upga_layers", "upga_iterates", "f_step",
           "w_step"]


@dataclasses.dataclass(frozen=True)
class UpgaSteps:
    """Trained step sizes of a UPGA model directory, and its sizes."""

    mu: np.ndarray  # [I, J] float64
    lam: np.ndarray  # [I] float64
    n_antennas: int
    n_rf: int
    n_users: int
    xi: float | None = None  # the output stage's factor (quantized models that have one)

    @property
    def n_layers(self) -> int:
        return int(self.lam.shape[0])


def load_upga(model_dir: str | os.PathLike) -> UpgaSteps:
    """Read the trained ``mu``, ``lam`` and sizes from a model directory (no torch needed)."""
    from hbf_edge.modelfiles import read_model_dir

    from hbf_edge.families import runs_on
    from hbf_edge.families.upga.config import refuse_snr_steps

    config, arrays = read_model_dir(model_dir)
    if not runs_on(config.family, "upga"):
        raise _checks.ConfigError(f"{model_dir} holds a {config.family} model, not upga")
    refuse_snr_steps(config.family_config, model_dir, "the kernels take")
    s = config.spec
    return UpgaSteps(arrays["mu"], arrays["lam"], s.n_antennas, s.n_rf, s.n_users, config.output_xi)


def _inputs(h_re, h_im, p_t, noise):
    h_re, h_im = _checks.channels(h_re, h_im)
    B = h_re.shape[0]
    p_t = _checks.powers("p_t", p_t, B, h_re.dtype)
    noise = _checks.powers("noise", noise, B, h_re.dtype)
    return h_re, h_im, p_t, noise


def _precoders(h_re, f_re, f_im, w_re, w_im):
    B, N, K = h_re.shape
    f_re = _checks.array("f_re", f_re, h_re.dtype, (B, N, None))
    M = f_re.shape[2]
    f_im = _checks.array("f_im", f_im, h_re.dtype, (B, N, M))
    w_re = _checks.array("w_re", w_re, h_re.dtype, (B, M, K))
    w_im = _checks.array("w_im", w_im, h_re.dtype, (B, M, K))
    for name, a in (("f_re", f_re), ("f_im", f_im), ("w_re", w_re), ("w_im", w_im)):
        _checks.finite(name, a)
    return f_re, f_im, w_re, w_im


def _alloc(h_re, n_rf):
    B, N, K = h_re.shape
    return (np.empty((B, N, n_rf), h_re.dtype), np.empty((B, N, n_rf), h_re.dtype),
            np.empty((B, n_rf, K), h_re.dtype), np.empty((B, n_rf, K), h_re.dtype))


def upga_forward(h_re, h_im, p_t, noise, mu, lam, n_rf: int):
    """Whole forward: initialisation eq. (12)-(13) then I layers (eq. 6-9).

    Returns
    -------
    f_re, f_im : [B, N, M]; w_re, w_im : [B, M, K], in the dtype of ``h_re``.
    """
    h_re, h_im = _checks.channel_arrays(h_re, h_im)
    B = h_re.shape[0]
    p_t = _checks.array("p_t", p_t, h_re.dtype, (B,))
    noise = _checks.array("noise", noise, h_re.dtype, (B,))
    mu, lam = _checks.steps(mu, lam, h_re.dtype, copy=False)
    n_rf = _checks.n_rf(n_rf, h_re.shape[2], h_re.shape[1])
    out = _alloc(h_re, n_rf)
    zero = h_re.dtype.type(0)
    # the values are checked in one compiled pass (in the forward's own call for a small batch:
    # numpy's scan cost as much as the network at batch 1); numpy's checks then name the problem
    if B < SERIAL_BELOW:
        problem = _k.forward_checked(h_re, h_im, p_t, noise, mu, lam, *out, zero)
    else:
        problem = value_problem(h_re, h_im, p_t, noise)
        if not problem:
            _k.forward(h_re, h_im, p_t, noise, mu, lam, *out, zero)
    if problem:
        _inputs(h_re, h_im, p_t, noise)
        raise_problem(problem)
    return out


class UpgaSession:
    """The real-time path: a model's whole forward on one batch size, channel after channel.

    Everything that does not change between calls is done once: the steps are converted, the
    sizes checked and the outputs allocated.  Below ``SERIAL_BELOW`` channels :meth:`run` is one
    call of a dispatcher closed to the session's types (:func:`kernels._core.jit.closed`: the
    dispatch checks dtypes, dimensions and layout), which checks the shapes and the values
    (finite, no all-zero user, powers > 0; :func:`kernels._core.boundary.value_problem`) and runs
    the forward; Python only names a bad input, with the same one-line errors.  Larger batches
    are checked in Python and run by the parallel driver.  The returned arrays are the
    session's own and are overwritten by the next call: copy what you keep.

    Below ``SERIAL_BELOW`` channels the session runs the forward compiled for its model's M and
    K (:mod:`kernels.upga._float_sized`: the first session of a new (M, K) compiles for about
    12 s, once; results equal :func:`upga_forward`'s to the rounding level).

    Measured in a fresh process without torch (N=64, M=K=4, I=10, J=1, batch 1, 2-core AMD
    EPYC, 2026-12-03, median of 7 x 2000 calls, two runs): 23.0 and 23.5 us per :meth:`run`
    against 47.6 and 48.2 us per :func:`upga_forward` call; the kernel alone takes 21.6-22.7 us
    (README "Kernels" for the figures since).
    """

    def __init__(self, steps: UpgaSteps, batch: int = 1, dtype: type = np.float64) -> None:
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        self.mu, self.lam = _checks.steps(steps.mu, steps.lam, self.dtype)
        N, M, K = steps.n_antennas, _checks.n_rf(steps.n_rf, steps.n_users, steps.n_antennas), steps.n_users
        self.shape = (batch, N, K)
        self.out = (np.empty((batch, N, M), self.dtype), np.empty((batch, N, M), self.dtype),
                    np.empty((batch, M, K), self.dtype), np.empty((batch, M, K), self.dtype))
        self._steps = np.ascontiguousarray(np.concatenate([self.mu, self.lam[:, None]], axis=1))
        self._serial = batch < SERIAL_BELOW
        self._tail = (self._steps, *self.out, size_tuple(M), size_tuple(K))
        self._forward = sized_forward(self.dtype, M, K) if self._serial else None
        # where an input the closed dispatch refuses but :meth:`_check` accepts (read-only, say)
        # is copied: another signature would compile the forward again (~50 s, 2026-12-06)
        self._copies = (tuple(np.empty(s, self.dtype) for s in (self.shape, self.shape, (batch,), (batch,)))
                        if self._serial else ())

    def _check(self, h_re, h_im, p_t, noise):
        """Raise the one-line error for the first input that is not this session's (the fast
        test in :meth:`run` compares dtypes by identity: an equal dtype object passes here)."""
        for name, a, shape in (("h_re", h_re, self.shape), ("h_im", h_im, self.shape),
                               ("p_t", p_t, self.shape[:1]), ("noise", noise, self.shape[:1])):
            if type(a) is not np.ndarray or a.dtype != self.dtype or a.shape != shape or not a.flags.c_contiguous:
                raise ValueError(f"{name} must be a C-contiguous {self.dtype} array of shape {shape} (this session's)")

    def run(self, h_re, h_im, p_t, noise):
        """``(f_re, f_im, w_re, w_im)`` for channels ``[batch, N, K]`` and powers ``[batch]``."""
        if self._serial:  # checks and forward in one compiled call, for this M and K
            try:  # closed to other types: dtype, dimensions and layout are checked by the dispatch
                problem = self._forward(h_re, h_im, p_t, noise, *self._tail)
            except TypeError:
                self._check(h_re, h_im, p_t, noise)  # names the input, or finds it is fine (read-only):
                for copy, a in zip(self._copies, (h_re, h_im, p_t, noise)):
                    np.copyto(copy, a)
                problem = self._forward(*self._copies, *self._tail)
            if problem:
                if problem == BAD_SHAPE:
                    self._check(h_re, h_im, p_t, noise)
                raise_problem(problem)
            return self.out
        dt, shape, one = self.dtype, self.shape, self.shape[:1]
        if not (type(h_re) is np.ndarray and type(h_im) is np.ndarray and type(p_t) is np.ndarray
                and type(noise) is np.ndarray and h_re.dtype is dt and h_im.dtype is dt and p_t.dtype is dt
                and noise.dtype is dt and h_re.shape == shape and h_im.shape == shape and p_t.shape == one
                and noise.shape == one and h_re.flags.c_contiguous and h_im.flags.c_contiguous
                and p_t.flags.c_contiguous and noise.flags.c_contiguous):
            self._check(h_re, h_im, p_t, noise)  # the slow path names the problem (or finds none)
        raise_problem(value_problem(h_re, h_im, p_t, noise))
        _k.forward(h_re, h_im, p_t, noise, self.mu, self.lam, *self.out, self.dtype.type(0))
        return self.out


def upga_init(h_re, h_im, p_t, n_rf: int):
    """Initialisation eq. (12)-(13) only; returns ``(f_re, f_im, w_re, w_im)``."""
    h_re, h_im = _checks.channels(h_re, h_im)
    p_t = _checks.powers("p_t", p_t, h_re.shape[0], h_re.dtype)
    n_rf = _checks.n_rf(n_rf, h_re.shape[2], h_re.shape[1])
    out = _alloc(h_re, n_rf)
    _k.init(h_re, h_im, p_t, *out, h_re.dtype.type(0))
    return out


def upga_layers(h_re, h_im, f_re, f_im, w_re, w_im, p_t, noise, mu, lam):
    """Run layers ``mu [I', J]``, ``lam [I']`` from ``(F, W)``; returns new arrays."""
    h_re, h_im, p_t, noise = _inputs(h_re, h_im, p_t, noise)
    f_re, f_im, w_re, w_im = (a.copy() for a in _precoders(h_re, f_re, f_im, w_re, w_im))
    mu, lam = _checks.steps(mu, lam, h_re.dtype)
    _k.layers(h_re, h_im, p_t, noise, mu, lam, f_re, f_im, w_re, w_im, h_re.dtype.type(0))
    return f_re, f_im, w_re, w_im


def upga_iterates(h_re, h_im, p_t, noise, mu, lam, n_rf: int) -> Iterator[tuple[np.ndarray, ...]]:
    """The initialisation, then the design after each layer of ``mu [I, J]``, ``lam [I]``:
    ``I + 1`` tuples ``(f_re, f_im, w_re, w_im)``, as ``upga_init`` and ``upga_layers`` one layer
    at a time give them, with the inputs checked once.

    The tuples are views of the same four arrays, overwritten in place by the next layer: copy
    what you keep.  Why: a conventional PGA's curve (``hbf-edge evaluate``'s PGA-100, a design
    per iteration) through ``upga_layers`` spent more time checking the channels and copying the
    design on each call than running the layer (demo evaluation, 1000 channels, 700 calls:
    1.4 s of checks, 2.4 s of kernel, 2026-12-07)."""
    h_re, h_im, p_t, noise = _inputs(h_re, h_im, p_t, noise)
    mu, lam = _checks.steps(mu, lam, h_re.dtype)
    n_rf = _checks.n_rf(n_rf, h_re.shape[2], h_re.shape[1])
    out = _alloc(h_re, n_rf)
    zero = h_re.dtype.type(0)
    _k.init(h_re, h_im, p_t, *out, zero)
    yield out
    for i in range(lam.shape[0]):
        _k.layers(h_re, h_im, p_t, noise, mu[i : i + 1], lam[i : i + 1], *out, zero)
        yield out


def f_step(h_re, h_im, f_re, f_im, w_re, w_im, noise, mu: float):
    """One projected F-step, eq. (6)-(7): ``F <- P_unit(F + mu grad_F R)``; returns new F."""
    h_re, h_im = _checks.channels(h_re, h_im)
    noise = _checks.powers("noise", noise, h_re.shape[0], h_re.dtype)
    f_re, f_im, w_re, w_im = _precoders(h_re, f_re, f_im, w_re, w_im)
    f_re, f_im = f_re.copy(), f_im.copy()
    _k.f_step_batch(h_re, h_im, f_re, f_im, w_re, w_im, noise, h_re.dtype.type(mu), h_re.dtype.type(0))
    return f_re, f_im


def w_step(h_re, h_im, f_re, f_im, w_re, w_im, p_t, noise, lam: float):
    """One W-step, eq. (8)-(9): ``W <- P_power(W + lam grad_W R)``; returns new W."""
    h_re, h_im, p_t, noise = _inputs(h_re, h_im, p_t, noise)
    f_re, f_im, w_re, w_im = _precoders(h_re, f_re, f_im, w_re, w_im)
    w_re, w_im = w_re.copy(), w_im.copy()
    _k.w_step_batch(h_re, h_im, f_re, f_im, w_re, w_im, p_t, noise, h_re.dtype.type(lam), h_re.dtype.type(0))
    return w_re, w_im
