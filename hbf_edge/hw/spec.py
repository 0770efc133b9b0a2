"""The hardware spec: one source of truth for sizes, phase codes and fixed-point formats.

Every stage that touches hardware numbers (QAT quantizers, Numba kernels, LUT exporter,
firmware simulator) reads a :class:`HardwareSpec`, so a phase code or a fixed-point word means
the same thing everywhere.  This module imports numpy only; ``kernels/`` may use it.

Phase codebook
--------------
With ``Q`` phase bits, code ``c`` in ``0 .. 2**Q - 1`` stands for the angle ``2*pi*c / 2**Q``.
An angle ``theta`` (any real) maps to the nearest code,
``c = floor(theta * 2**Q / (2*pi) + 1/2) mod 2**Q``: exact ties go to the larger angle
(counter-clockwise), and the circle wraps, so an angle just below ``+pi`` and ``-pi`` itself both
map to code ``2**(Q-1)``.

Fixed-point words
-----------------
A :class:`FixedPointFormat` is a signed two's-complement word of ``word_bits`` bits of which
``frac_bits`` are fraction bits: the integer ``q`` stands for ``q * 2**-frac_bits`` and lies in
``[-2**(word_bits-1), 2**(word_bits-1) - 1]``.  Conversion rounds by the format's rule and
saturates (or, if ``saturate`` is false, wraps) on overflow.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError

__all__ = [
    "FORMATS",
    "FixedPointFormat",
    "HardwareSpec",
    "ROUNDING_MODES",
    "phase_to_code",
    "code_to_phase",
    "code_table",
]

ROUNDING_MODES = ("half_up", "half_even", "floor")
MAX_PHASE_BITS = 16


@dataclasses.dataclass(frozen=True)
class FixedPointFormat:
    """A signed fixed-point word: ``word_bits`` bits, ``frac_bits`` of them fraction.

    Parameters
    ----------
    word_bits : int
        Total bits including the sign, 2..32.
    frac_bits : int
        Fraction bits, 0..word_bits-1.
    rounding : {"half_up", "half_even", "floor"}
        ``half_up`` = nearest, ties towards +inf (``floor(x + 1/2)``, one adder in hardware);
        ``half_even`` = nearest, ties to even; ``floor`` = truncation towards -inf (drop bits).
    saturate : bool
        Clamp to the representable range on overflow (true) or wrap modulo ``2**word_bits``.
    """

    word_bits: int
    frac_bits: int
    rounding: str = "half_up"
    saturate: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.word_bits, int) or not 2 <= self.word_bits <= 32:
            raise ConfigError(f"word_bits must be an integer in 2..32, got {self.word_bits!r}")
        if not isinstance(self.frac_bits, int) or not 0 <= self.frac_bits < self.word_bits:
            raise ConfigError(
                f"frac_bits must be an integer in 0..word_bits-1={self.word_bits - 1}, "
                f"got {self.frac_bits!r}"
            )
        if self.rounding not in ROUNDING_MODES:
            raise ConfigError(f"rounding must be one of {ROUNDING_MODES}, got {self.rounding!r}")
        if not isinstance(self.saturate, bool):
            raise ConfigError(f"saturate must be a bool, got {self.saturate!r}")

    @property
    def min_int(self) -> int:
        return -(1 << (self.word_bits - 1))

    @property
    def max_int(self) -> int:
        return (1 << (self.word_bits - 1)) - 1

    @property
    def lsb(self) -> float:
        """Value of one least significant bit, ``2**-frac_bits``."""
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def max_value(self) -> float:
        return self.max_int * self.lsb

    @property
    def min_value(self) -> float:
        return self.min_int * self.lsb

    def quantize(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Quantise real values to integer words, with the overflow mask.

        Parameters
        ----------
        x : ndarray of float
            Values; must be finite.

        Returns
        -------
        q : ndarray of int64, same shape as ``x``
            The words (saturated, or wrapped if ``saturate`` is false).
        overflow : ndarray of bool, same shape
            Which values fell outside the range.
        """
        x = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ConfigError("cannot quantise NaN or inf to fixed point")
        scaled = np.ldexp(x, self.frac_bits)
        if self.rounding == "half_up":
            q = np.floor(scaled + 0.5)
        elif self.rounding == "half_even":
            q = np.round(scaled)
        else:
            q = np.floor(scaled)
        over = (q > self.max_int) | (q < self.min_int)
        if self.saturate:
            q = np.clip(q, self.min_int, self.max_int)
        else:
            span = 1 << self.word_bits
            q = np.mod(q - self.min_int, span) + self.min_int
        return q.astype(np.int64), over

    def to_int(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """Quantise real values to integer words; returns the words and the overflow count."""
        q, over = self.quantize(x)
        return q, int(np.count_nonzero(over))

    def to_float(self, q: np.ndarray) -> np.ndarray:
        """Real values of integer words (exact in float64 for word_bits <= 32)."""
        return np.ldexp(np.asarray(q, dtype=np.float64), -self.frac_bits)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FixedPointFormat":
        _check_keys(data, {f.name for f in dataclasses.fields(cls)}, "fixed-point format")
        return cls(**data)


def _check_keys(data: Any, allowed: set[str], what: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(data).__name__}")
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"unknown key(s) in {what}: {sorted(unknown)}; allowed: {sorted(allowed)}")


# The named formats of the PGA-family datapath, in the one order every stage uses: the rows of
# the kernels' format table (kernels/_core/fixed.py derives its row indices from this tuple),
# lut.json and lut.h.
FORMATS = ("channel", "lut", "accumulator", "gradient", "step", "precoder")
# Default formats for the embedded default (N=64, M=K=4, P=10 Saleh-Valenzuela channels,
# sigma^2 = 1, SNR -10..20 dB), sized from the magnitudes of the hardware datapath
# (kernels/upga/_fixed.py), where W is kept power-normalised (||F W||^2 = N, entries ~0.25).
_DEFAULT_FORMATS = {
    "channel": FixedPointFormat(16, 12),  # entries of H: std ~0.4, range +-8
    "lut": FixedPointFormat(12, 10),  # cos/sin table, +-1 exactly representable
    "accumulator": FixedPointFormat(32, 16),  # G, E, |E|^2 sums, norms: range +-32768
    "gradient": FixedPointFormat(24, 16),  # 1/a, C, D, gradients, F update: range +-128
    "step": FixedPointFormat(32, 24),  # mu, lambda*N/P_t (up to ~10 at -10 dB): range +-128
    "precoder": FixedPointFormat(12, 10),  # normalised W: entries < 1, range +-2
}


@dataclasses.dataclass(frozen=True)
class HardwareSpec:
    """Sizes, phase-shifter resolution and fixed-point formats of one hybrid beamformer.

    Parameters
    ----------
    n_antennas : int
        N, transmit antennas (rows of the analog precoder F).
    n_rf : int
        M, RF chains (columns of F, rows of the digital precoder W); must be >= n_users.
    n_users : int
        K, single-antenna users (columns of W).
    phase_bits : int or None
        Q, phase-shifter resolution in bits (1..16); ``None`` means infinite resolution.
    channel, precoder, lut, gradient, step, accumulator : FixedPointFormat
        Formats of the channel entries, the digital precoder W, the code -> (cos, sin) table,
        the gradients, the step sizes, and the wide accumulators (dot products, norms).
    """

    n_antennas: int = 64
    n_rf: int = 4
    n_users: int = 4
    phase_bits: int | None = 4
    channel: FixedPointFormat = _DEFAULT_FORMATS["channel"]
    precoder: FixedPointFormat = _DEFAULT_FORMATS["precoder"]
    lut: FixedPointFormat = _DEFAULT_FORMATS["lut"]
    gradient: FixedPointFormat = _DEFAULT_FORMATS["gradient"]
    step: FixedPointFormat = _DEFAULT_FORMATS["step"]
    accumulator: FixedPointFormat = _DEFAULT_FORMATS["accumulator"]

    def __post_init__(self) -> None:
        for name in ("n_antennas", "n_rf", "n_users"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.n_rf < self.n_users:
            raise ConfigError(
                f"n_rf (M={self.n_rf}) must be >= n_users (K={self.n_users}): "
                "a hybrid precoder cannot serve more streams than it has RF chains"
            )
        if self.n_antennas < self.n_rf:
            raise ConfigError(f"n_antennas (N={self.n_antennas}) must be >= n_rf (M={self.n_rf})")
        q = self.phase_bits
        if q is not None and (isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= MAX_PHASE_BITS):
            raise ConfigError(f"phase_bits must be None or an integer in 1..{MAX_PHASE_BITS}, got {q!r}")
        for name in _DEFAULT_FORMATS:
            if not isinstance(getattr(self, name), FixedPointFormat):
                raise ConfigError(f"{name} must be a FixedPointFormat")

    @property
    def n_codes(self) -> int | None:
        """Number of phase codes, ``2**Q`` (None for infinite resolution)."""
        return None if self.phase_bits is None else 1 << self.phase_bits

    def phase_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Code -> (cos, sin) words in the ``lut`` format, ``round(cos(2 pi c / 2**Q) 2**f)``.

        The one table every stage uses (hardware kernel, QAT model, exporter).

        Returns
        -------
        cos, sin : ndarray of int64, [2**Q]
        """
        if self.phase_bits is None:
            raise ConfigError("the hardware spec has infinite phase resolution (phase_bits=None): no phase table")
        return code_table(self.lut, self.phase_bits)

    def replace(self, **changes: Any) -> "HardwareSpec":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n_antennas": self.n_antennas,
            "n_rf": self.n_rf,
            "n_users": self.n_users,
            "phase_bits": self.phase_bits,
        }
        for name in _DEFAULT_FORMATS:
            out[name] = getattr(self, name).to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HardwareSpec":
        _check_keys(data, {f.name for f in dataclasses.fields(cls)}, "hardware spec")
        kwargs = dict(data)
        for name in _DEFAULT_FORMATS:
            if name in kwargs:
                kwargs[name] = FixedPointFormat.from_dict(kwargs[name])
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "HardwareSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"hardware spec is not valid JSON: {exc}") from exc
        return cls.from_dict(data)


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= MAX_PHASE_BITS:
        raise ConfigError(f"phase bits must be an integer in 1..{MAX_PHASE_BITS}, got {bits!r}")
    return int(bits)


def code_table(lut: FixedPointFormat, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Code -> (cos, sin) of ``bits``-bit codes as ``lut`` words, ``round(cos(2 pi c / 2**bits)
    2**f)``: :meth:`HardwareSpec.phase_table`, and the tables of datapaths with more than one
    resolution (MSER's internal and per-side tables)."""
    angles = code_to_phase(np.arange(1 << _check_bits(bits)), bits)
    c, n_c = lut.to_int(np.cos(angles))
    s, n_s = lut.to_int(np.sin(angles))
    if n_c or n_s:
        raise ConfigError(f"the lut format {lut} cannot hold +-1: give it at least 2 integer bits")
    return np.ascontiguousarray(c), np.ascontiguousarray(s)


def phase_to_code(theta: np.ndarray, bits: int) -> np.ndarray:
    """Nearest Q-bit phase code of each angle (ties counter-clockwise, wrap at +-pi).

    Parameters
    ----------
    theta : ndarray of float
        Angles in radians, any real value (finite).
    bits : int
        Q, 1..16.

    Returns
    -------
    ndarray of int64, same shape, values in ``0 .. 2**Q - 1``.
    """
    bits = _check_bits(bits)
    theta = np.asarray(theta, dtype=np.float64)
    if not np.all(np.isfinite(theta)):
        raise ConfigError("phase_to_code: angles must be finite")
    n = 1 << bits
    return np.mod(np.floor(theta * (n / (2.0 * np.pi)) + 0.5), n).astype(np.int64)


def code_to_phase(code: np.ndarray, bits: int) -> np.ndarray:
    """Angle ``2*pi*c / 2**Q`` in ``[0, 2*pi)`` of each code; rejects codes out of range."""
    bits = _check_bits(bits)
    code = np.asarray(code)
    n = 1 << bits
    if not np.issubdtype(code.dtype, np.integer):
        raise ConfigError(f"phase codes must be integers, got dtype {code.dtype}")
    if code.size and (code.min() < 0 or code.max() >= n):
        raise ConfigError(f"phase codes must lie in 0..{n - 1} for Q={bits}")
    return code.astype(np.float64) * (2.0 * np.pi / n)
