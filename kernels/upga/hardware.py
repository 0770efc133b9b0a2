"""Hardware mode of the UPGA forward: bit-accurate fixed point with Q-bit phase codes.

The integer datapath is documented in :mod:`kernels.upga._fixed`.  This wrapper is the
boundary between float and integer: it checks the inputs and the spec, quantises the channel,
the per-channel normalised noise ``s2 N / P_t`` and W steps ``lambda_i N / P_t``, and the F
steps ``mu``, runs the kernel, and returns integers (phase codes, W words) with the overflow
counters.  Nothing inside the kernel uses floating point.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from hbf_edge.errors import ConfigError, ShapeError
from hbf_edge.hw.spec import FixedPointFormat, HardwareSpec, code_to_phase

from hbf_edge.kernels._core import checks as _checks
from hbf_edge.kernels._core.batching import SERIAL_BELOW, run_batch
from hbf_edge.kernels._core.boundary import raise_problem
from hbf_edge.kernels.upga import _search as _s
from hbf_edge.kernels.upga import _batch
from hbf_edge.kernels.upga import _fixed as _k
from hbf_edge.kernels._core.tables import format_row, format_table, phase_lut

__all__ = ["HardwareResult", "HwInputs", "CodeSearch", "model_search", "upga_forward_hw", "prepare_hw_inputs",
           "run_search", "run_stages", "check_hardware_spec", "COUNTER_SITES", "output_stage_word"]

COUNTER_SITES = ("input",) + _k.SITES  # = hbf_edge.families.upga.config.COUNTER_SITES
MAX_KERNEL_PHASE_BITS = 8


@dataclasses.dataclass(frozen=True)
class HardwareResult:
    """Output of the hardware kernel for a batch of B channels.

    Attributes
    ----------
    codes : ndarray of int64, [B, N, M]
        Phase codes ``0 .. 2**Q - 1`` of the analog precoder (angle ``2 pi c / 2**Q``).
    w_re, w_im : ndarray of int64, [B, M, K]
        Digital precoder words in ``w_format``, power-normalised: ``||F W_hw||_F^2 = N``.
    w_format : FixedPointFormat
    counters : dict of str -> ndarray of int64 [B]
        Overflow (saturation or wrap) events per site (``COUNTER_SITES``) and channel.
    p_t : ndarray [B]
        Transmit powers the design is for (to scale W back, outside the hardware).
    phase_bits : int
    """

    codes: np.ndarray
    w_re: np.ndarray
    w_im: np.ndarray
    w_format: FixedPointFormat
    counters: dict
    p_t: np.ndarray
    phase_bits: int

    @property
    def counter_table(self) -> np.ndarray:
        """Overflow events per channel and site, [B, sites] int64, columns in ``counters`` order."""
        return np.stack(list(self.counters.values()), axis=1).astype(np.int64)

    @property
    def total_overflows(self) -> np.ndarray:
        """Overflow events per channel, all sites together, [B]."""
        return self.counter_table.sum(axis=1)

    def analog(self) -> np.ndarray:
        """F as applied by ideal phase shifters, ``exp(j 2 pi c / 2**Q)``, complex [B, N, M]."""
        return np.exp(1j * code_to_phase(self.codes, self.phase_bits))

    def digital(self) -> np.ndarray:
        """The true digital precoder ``sqrt(P_t / N) W_hw``, complex [B, M, K]."""
        n = self.codes.shape[1]
        w = self.w_format.to_float(self.w_re) + 1j * self.w_format.to_float(self.w_im)
        return w * np.sqrt(self.p_t / n)[:, None, None]


def check_hardware_spec(spec: HardwareSpec) -> None:
    """Reject specs the integer datapath cannot run exactly in int64."""
    q = spec.phase_bits
    if q is None or not 1 <= q <= MAX_KERNEL_PHASE_BITS:
        raise ConfigError(f"the hardware kernel needs phase_bits in 1..{MAX_KERNEL_PHASE_BITS}, got {q!r}")
    fA, fG, fL, fW = spec.accumulator.frac_bits, spec.gradient.frac_bits, spec.lut.frac_bits, spec.precoder.frac_bits
    if fA < fW:
        raise ConfigError(f"accumulator fraction bits ({fA}) must be >= precoder fraction bits ({fW})")
    if fG < fL:
        raise ConfigError(f"gradient fraction bits ({fG}) must be >= lut fraction bits ({fL})")
    if fA + 2 * fG + math.ceil(math.log2(spec.n_antennas)) > 62:
        raise ConfigError("accumulator + 2 x gradient fraction bits + log2(N) must be <= 62 (int64 datapath)")
    if fA + fG + spec.step.frac_bits > 2 * 62 or fA + spec.gradient.frac_bits > 62:
        raise ConfigError("fraction bits too large for the int64 datapath")
    phase_lut(spec)  # the table must hold +-1


MODEL_WIDE_FORMATS = ("channel", "lut", "gradient", "step", "accumulator")


@functools.lru_cache(maxsize=32)
def _prepared(spec: HardwareSpec, layer_specs: tuple[HardwareSpec, ...] | None, n_layers: int):
    """The checked layer specs (``layer_specs`` or ``spec`` for each of ``n_layers`` layers) and
    their stacked tables, once per set of specs: checking a spec builds its phase table, and a
    batch-1 call with ten layer specs spent most of its time doing that.  Shared by every
    caller, so nothing in it can be changed: the specs as a tuple, the tables read-only."""
    check_hardware_spec(spec)
    layers = tuple(_layer_specs(spec, layer_specs, n_layers))
    return (layers, *_tables(layers))


def _tables(layers: tuple[HardwareSpec, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stacked per-layer phase tables and format rows.  Read-only."""
    n_codes = np.array([ls.n_codes for ls in layers], np.int64)
    lut_c = np.zeros((len(layers), n_codes.max()), np.int64)
    lut_s = np.zeros_like(lut_c)
    for i, ls in enumerate(layers):
        lut_c[i, : n_codes[i]], lut_s[i, : n_codes[i]] = phase_lut(ls)
    fms = np.ascontiguousarray(np.stack([format_table(ls) for ls in layers]))
    for a in (lut_c, lut_s, n_codes, fms):
        a.setflags(write=False)
    return lut_c, lut_s, n_codes, fms


def _layer_specs(spec: HardwareSpec, layer_specs, n_layers: int) -> list[HardwareSpec]:
    if layer_specs is None:
        return [spec] * n_layers
    layer_specs = list(layer_specs)
    if len(layer_specs) != n_layers:
        raise ConfigError(f"got {len(layer_specs)} layer specs for {n_layers} layers")
    for i, ls in enumerate(layer_specs):
        check_hardware_spec(ls)
        if (ls.n_antennas, ls.n_rf, ls.n_users) != (spec.n_antennas, spec.n_rf, spec.n_users):
            raise ConfigError(f"layer {i}: sizes differ from the model's")
        for name in MODEL_WIDE_FORMATS:
            if getattr(ls, name) != getattr(spec, name):
                raise ConfigError(f"layer {i}: the {name} format is model-wide and cannot change per layer")
    return layer_specs


def upga_forward_hw(h_re, h_im, p_t, noise, mu, lam, spec: HardwareSpec, layer_specs=None,
                    xi: float | None = None, search: CodeSearch | None = None) -> HardwareResult:
    """Bit-accurate UPGA forward (initialisation eq. 12-13, I layers of eq. 6-9, then the optional
    code search and output stage).

    Parameters
    ----------
    h_re, h_im : ndarray of float64, [B, N, K]
        Channels (quantised here to the spec's ``channel`` format).
    p_t, noise : ndarray of float64, [B]
        Transmit and noise powers (> 0).
    mu : ndarray, [I, J]; lam : ndarray, [I]
        Trained step sizes (quantised to the ``step`` format).
    spec : HardwareSpec
        Sizes (must match H), phase bits (1..8) and formats.
    layer_specs : list of HardwareSpec, optional
        One spec per layer (per-layer phase bits and precoder format; the other formats must
        equal ``spec``'s).  Default: ``spec`` for every layer.  The initialisation uses layer 0's.
    xi : float, optional
        Regularisation factor of the output stage (1: the transmit Wiener filter on the
        effective channel of the final codes, 0: zero forcing; see
        :func:`kernels.upga._output.output_fx`).  Default ``None``: no output stage, W is the
        last layer's.
    search : CodeSearch, optional
        Coordinate descent over the last layer's codes, each candidate scored by the sum rate
        with the output stage's W (:mod:`kernels.upga._search`); needs ``xi``.  Default
        ``None``: the codes are the last layer's.

    Returns
    -------
    HardwareResult
    """
    x = prepare_hw_inputs(h_re, h_im, p_t, noise, mu, lam, spec, layer_specs, xi)
    search = check_search(search, xi)
    B, N, K = x.h_r.shape
    M = spec.n_rf
    codes = np.empty((B, N, M), np.int64)
    w_r = np.empty((B, M, K), np.int64)
    w_i = np.empty((B, M, K), np.int64)
    counts = np.zeros((B, len(_k.SITES)), np.int64)
    last_stage = _k.NO_OUTPUT_STAGE if search is not None else x.xi  # the search ends with the output stage
    run = _batch.forward_fx_serial if B < SERIAL_BELOW else _batch.forward_fx_batch  # as the float forward
    run(x.h_r, x.h_i, x.noise, x.mu, x.lam, last_stage, x.lut_c, x.lut_s, x.n_codes, x.fms, codes, w_r, w_i, counts)
    if search is not None:
        run_search(x, search, codes, w_r, w_i, counts)
    return hardware_result(x, codes, w_r, w_i, counts, _k.SITES)


@dataclasses.dataclass(frozen=True)
class CodeSearch:
    """The code search after the last layer (:mod:`kernels.upga._search`): up to ``sweeps``
    passes over the N x M entries, trying the codes up to ``span`` steps either side of each
    (a span of ``2**(Q-1)`` or more tries every code)."""

    sweeps: int = 2
    span: int = 1

    def __post_init__(self) -> None:
        for name in ("sweeps", "span"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 256:
                raise ConfigError(f"code search {name} must be an integer in 1..256, got {v!r}")

    def to_dict(self) -> dict[str, int]:
        return {"sweeps": self.sweeps, "span": self.span}

    @classmethod
    def from_dict(cls, d: dict) -> "CodeSearch":
        if not isinstance(d, dict) or set(d) != {"sweeps", "span"}:
            raise ConfigError(f"a code search is {{'sweeps': int, 'span': int}}, got {d!r}")
        return cls(d["sweeps"], d["span"])


def model_search(config) -> CodeSearch | None:
    """The code search a model directory's config asks for (``config.code_search``), or None."""
    d = config.code_search
    return None if d is None else CodeSearch.from_dict(d)


def check_search(search: CodeSearch | None, xi: float | None) -> CodeSearch | None:
    if search is not None and not isinstance(search, CodeSearch):
        raise ConfigError(f"search must be a CodeSearch, got {type(search).__name__}")
    if search is not None and xi is None:
        raise ConfigError("the code search scores codes with the output stage's W: it needs an output stage (xi)")
    return search


def run_search(x: "HwInputs", search: CodeSearch, codes: np.ndarray, w_r: np.ndarray, w_i: np.ndarray,
               counts: np.ndarray) -> None:
    """The search and the output stage on the last layer's ``codes [B, N, M]`` (int64, C order),
    in place on them and on ``w_r, w_i [B, M, K]`` (int64), counting overflows into ``counts
    [B, len(COUNTER_SITES) - 1]``; after :func:`prepare_hw_inputs` (per-stage profiling and the
    exporter call it on codes from elsewhere)."""
    B, N, K = x.h_r.shape
    M = codes.shape[2] if codes.ndim == 3 else -1
    for name, a, shape in (("codes", codes, (B, N, M)), ("w_r", w_r, (B, M, K)), ("w_i", w_i, (B, M, K)),
                           ("counts", counts, (B, len(_k.SITES)))):
        if a.dtype != np.int64 or a.shape != shape or not a.flags.c_contiguous or not a.flags.writeable:
            raise ShapeError(f"{name} must be a writable C-ordered int64 array of shape {shape}, got {a.dtype} {a.shape}")
    n_codes = int(x.n_codes[-1])
    if codes.min(initial=0) < 0 or codes.max(initial=0) >= n_codes:
        raise ConfigError(f"codes must lie in 0..{n_codes - 1} (the last layer's {x.layers[-1].phase_bits} bits)")
    _s.search_fx_batch(x.h_r, x.h_i, x.noise, x.xi, search.sweeps, search.span, x.lut_c, x.lut_s, x.n_codes, x.fms,
                       codes, w_r, w_i, counts, _log2_table())


def run_stages(x: "HwInputs", codes: np.ndarray, w_r: np.ndarray, w_i: np.ndarray, counts: np.ndarray, init: bool,
               first: int, last: int, output: bool, reps: int = 1) -> None:
    """Stages of the datapath in place on every channel's codes, W and counters, ``reps`` times
    (:func:`kernels.upga._batch.steps_fx_range`: the initialisation if ``init``, layers ``first
    .. last - 1``, the output stage if ``output``), below ``SERIAL_BELOW`` channels in the calling
    thread, else in chunks on the Python threads; after :func:`prepare_hw_inputs`, on arrays
    shaped as :func:`run_search` takes them (the per-layer and the numerical profiles)."""
    args = (x.h_r, x.h_i, x.noise, x.mu, x.lam, x.xi, x.lut_c, x.lut_s, x.n_codes, x.fms, codes, w_r, w_i, counts,
            np.bool_(init), np.int64(first), np.int64(last), np.bool_(output), np.int64(reps))
    run_batch(_batch.steps_fx_range, x.h_r.shape[0], *args)


@functools.lru_cache(maxsize=1)
def _log2_table() -> np.ndarray:
    table = _s.log2_table()
    table.setflags(write=False)
    return table


def hardware_result(x: "HwInputs", codes: np.ndarray, w_r: np.ndarray, w_i: np.ndarray, counts: np.ndarray,
                    sites: tuple[str, ...], input_overflows: np.ndarray | None = None) -> HardwareResult:
    """The kernel's outputs with the overflow counters by site (``input`` first: the boundary's,
    plus ``input_overflows`` of a family's own inputs)."""
    inputs = x.input_overflows if input_overflows is None else x.input_overflows + input_overflows
    counters = {"input": inputs}
    counters.update(zip(sites, counts.T.copy()))  # one copy, a row per site (the 14 column copies: ~11 us under cProfile)
    last = x.layers[-1]
    return HardwareResult(codes, w_r, w_i, last.precoder, counters, x.p_t, last.phase_bits)


@dataclasses.dataclass(frozen=True)
class HwInputs:
    """The integer inputs and tables of the hardware kernels (see :func:`prepare_hw_inputs`)."""

    h_r: np.ndarray  # [B, N, K] channel words
    h_i: np.ndarray
    noise: np.ndarray  # [B] accumulator words of s2 N / P_t
    mu: np.ndarray  # [I, J] step words
    lam: np.ndarray  # [B, I] step words of lambda_i N / P_t
    xi: int  # step word of xi K / N for the output stage, or NO_OUTPUT_STAGE
    lut_c: np.ndarray  # [I, 2**Qmax] per-layer tables
    lut_s: np.ndarray
    n_codes: np.ndarray  # [I]
    fms: np.ndarray  # [I, 6, 5] per-layer format rows
    layers: tuple  # the layer specs
    p_t: np.ndarray
    input_overflows: np.ndarray  # [B]


def prepare_hw_inputs(h_re, h_im, p_t, noise, mu, lam, spec: HardwareSpec, layer_specs=None,
                      xi: float | None = None) -> HwInputs:
    """Check the inputs and the specs and quantise everything at the float/integer boundary.

    The per-channel words are formed in one compiled pass (:func:`kernels.upga._batch.quantize_inputs`,
    the numpy quantizer's words bit for bit), which also checks the values; only when it finds
    a problem do the numpy checks run, to say which channel or user it is."""
    h_re = _checks.array("h_re", h_re, np.dtype(np.float64), (None, None, None))
    h_im = _checks.array("h_im", h_im, h_re.dtype, h_re.shape)
    B, N, K = h_re.shape
    if B == 0:
        raise ShapeError(f"channels are empty: shape {list(h_re.shape)}")
    if (N, K) != (spec.n_antennas, spec.n_users):
        raise ShapeError(f"channels are N={N}, K={K}; the spec says N={spec.n_antennas}, K={spec.n_users}")
    p_t = _checks.array("p_t", p_t, h_re.dtype, (B,))
    noise = _checks.array("noise", noise, h_re.dtype, (B,))
    mu, lam = _checks.steps(mu, lam, np.dtype(np.float64))
    layers, lut_c, lut_s, n_codes, fms = _prepared(spec, None if layer_specs is None else tuple(layer_specs),
                                                   lam.shape[0])
    hq_r, hq_i = np.empty((B, N, K), np.int64), np.empty((B, N, K), np.int64)
    noise_q, lam_q, inputs = np.empty(B, np.int64), np.empty((B, lam.shape[0]), np.int64), np.zeros(B, np.int64)
    rows = _boundary_rows(spec)
    problem = _batch.quantize_inputs(h_re, h_im, p_t, noise, lam, *rows, hq_r, hq_i, noise_q, lam_q, inputs)
    if problem:
        _checks.channels(h_re, h_im)  # these raise the precise message; the kernel's is the fallback
        _checks.powers("p_t", p_t, B, h_re.dtype)
        _checks.powers("noise", noise, B, h_re.dtype)
        raise_problem(problem)
    mu_q, o4 = _step_words(spec.step, mu.tobytes(), mu.shape)
    mu_q = mu_q.copy()
    xi_q = output_stage_word(xi, spec)
    return HwInputs(hq_r, hq_i, noise_q, mu_q, lam_q, xi_q, lut_c, lut_s, n_codes, fms, layers,
                    p_t.copy(), inputs + o4)


@functools.lru_cache(maxsize=32)
def _boundary_rows(spec: HardwareSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The channel, accumulator and step format rows of ``spec``, shared by every call (left
    writable: a read-only array is another type to Numba, so another compilation of the
    kernel that reads them; nothing writes them)."""
    return format_row(spec.channel), format_row(spec.accumulator), format_row(spec.step)


@functools.lru_cache(maxsize=64)
def _step_words(step: FixedPointFormat, mu_bytes: bytes, shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """``step.quantize`` of the F steps (float64 ``mu`` as bytes), once per set of steps: a
    batch-1 call spent ~10 us in numpy quantising the same ten numbers again.  Read-only: the
    caller takes a copy."""
    words, over = step.quantize(np.frombuffer(mu_bytes, np.float64).reshape(shape))
    words.setflags(write=False)
    return words, int(over.sum())


def output_stage_word(xi: float | None, spec: HardwareSpec) -> int:
    """The step-format word of ``xi K / N`` (the output stage's regularisation per unit of
    ``s2 N / P_t``), or ``NO_OUTPUT_STAGE`` for ``xi=None``; ``xi`` must be finite, >= 0 and
    representable."""
    if xi is None:
        return _k.NO_OUTPUT_STAGE
    xi = float(xi)
    if not math.isfinite(xi) or xi < 0:
        raise ConfigError(f"the output stage's xi must be finite and >= 0, got {xi}")
    word, over = spec.step.quantize(np.array([xi * spec.n_users / spec.n_antennas]))
    if over.any():
        raise ConfigError(f"xi = {xi} does not fit the step format")
    return int(word[0])
