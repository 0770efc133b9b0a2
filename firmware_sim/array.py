"""The analog front end: N x M phase shifters on chips of C channels, chips on SPI buses.

Element ``(n, m)`` (antenna n, RF chain m) is phase shifter ``e = m N + n``; it lives on chip
``e // C``, channel ``e % C``; chip ``k`` sits on bus ``k // chips_per_bus`` with address
``k % chips_per_bus``.  Buses run in parallel, so a sequence takes as long as its busiest
bus: ``frames * 24 / spi_hz``.
"""

from __future__ import annotations

import math

import numpy as np

from ._verify import SimulatorError
from .chip import REG, REJECT_REASONS, Chip, decode, frame

__all__ = ["FrontEnd", "FRAME_BITS", "TRACE_FIELDS"]

FRAME_BITS = 24
# one SPI transaction of a trace: the frame's start (s), bus, chip address on the bus, read,
# register address, data byte, the 24-bit frame, accepted by the chip (False: rejected)
TRACE_FIELDS = ("time_s", "bus", "chip", "read", "address", "data", "frame", "accepted")


class FrontEnd:
    """All chips and buses of one array.

    Parameters
    ----------
    n_antennas, n_rf : int
        N and M of the fully connected analog network (N M phase shifters).
    channels_per_chip : int
        C (default 4, ADAR1000-like).
    chips_per_bus : int
        Chips sharing an SPI bus (1..4; default 4, the 2-bit chip address).
    n_states : int
        S, beam states per chip's beam RAM (default 121).
    spi_hz : float
        SPI clock (default 25 MHz).
    trace : list, optional
        When given, every transaction :meth:`run` sends is appended to it as a tuple of
        :data:`TRACE_FIELDS`, timed on the controller's clock: the sequences follow one another,
        the buses of a sequence run in parallel and each frame takes 24 SPI clock periods.
    """

    def __init__(self, n_antennas: int, n_rf: int, channels_per_chip: int = 4, chips_per_bus: int = 4,
                 n_states: int = 121, spi_hz: float = 25e6, trace: list | None = None) -> None:
        if isinstance(chips_per_bus, bool) or not isinstance(chips_per_bus, int) or not 1 <= chips_per_bus <= 4:
            raise SimulatorError(f"chips per bus must be 1..4 (a 2-bit chip address), got {chips_per_bus!r}")
        if isinstance(channels_per_chip, bool) or not isinstance(channels_per_chip, int) or not 1 <= channels_per_chip <= 24:
            raise SimulatorError(f"channels per chip must be an integer in 1..24, got {channels_per_chip!r}")
        if not (isinstance(spi_hz, (int, float)) and math.isfinite(spi_hz) and spi_hz > 0):
            raise SimulatorError(f"the SPI clock must be finite and > 0, got {spi_hz!r}")
        self.N, self.M = n_antennas, n_rf
        self.C = channels_per_chip
        self.chips_per_bus = chips_per_bus
        self.spi_hz = spi_hz
        n_chips = math.ceil(n_antennas * n_rf / channels_per_chip)
        self.chips = [Chip(channels_per_chip, n_states) for _ in range(n_chips)]
        self.n_buses = math.ceil(n_chips / chips_per_bus)
        self.bus_rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.trace = trace
        self.clock_s = 0.0  # start of the next sequence

    @property
    def n_states(self) -> int:
        return self.chips[0].n_states

    def locate(self, n: int, m: int) -> tuple[int, int]:
        """``(chip index, channel)`` of element (n, m)."""
        e = m * self.N + n
        return e // self.C, e % self.C

    # -- the bus -------------------------------------------------------------------------------
    def send(self, bus: int, word: object) -> bool | int:
        """Put one frame on a bus; returns the chip's answer, or False if rejected."""
        if isinstance(word, bool) or not isinstance(word, (int, np.integer)) or not 0 <= int(word) < 1 << FRAME_BITS:
            self.bus_rejected["malformed"] += 1
            return False
        if not 0 <= bus < self.n_buses:
            raise SimulatorError(f"bus {bus} does not exist (0..{self.n_buses - 1})")
        read, addr, reg, data = decode(int(word))
        k = bus * self.chips_per_bus + addr
        if addr >= self.chips_per_bus or k >= len(self.chips):
            self.bus_rejected["unknown_address"] += 1
            return False
        return self.chips[k].transact(read, reg, data)

    def run(self, sequence: list[list[int]]) -> int:
        """Send per-bus frame lists; returns the number of rejected frames."""
        before = self.rejected_total()
        period = FRAME_BITS / self.spi_hz
        for bus, frames in enumerate(sequence):
            for i, word in enumerate(frames):
                answer = self.send(bus, word)
                if self.trace is not None:
                    valid = isinstance(word, (int, np.integer)) and not isinstance(word, bool) and 0 <= word < 1 << 24
                    read, chip, address, data = decode(int(word)) if valid else (False, -1, -1, -1)
                    self.trace.append((self.clock_s + i * period, bus, chip, read, address, data,
                                       int(word) if valid else -1, answer is not False))
        self.clock_s += self.latency_s(sequence)
        return self.rejected_total() - before

    def rejected(self) -> dict[str, int]:
        out = dict(self.bus_rejected)
        for chip in self.chips:
            for reason, count in chip.rejected.items():
                out[reason] += count
        return out

    def rejected_total(self) -> int:
        return sum(self.rejected().values())

    def latency_s(self, sequence: list[list[int]]) -> float:
        """Time of a sequence: the busiest bus's frames at the SPI clock (buses in parallel)."""
        return max((len(f) for f in sequence), default=0) * FRAME_BITS / self.spi_hz

    # -- programming sequences -----------------------------------------------------------------
    def _per_bus(self) -> list[list[int]]:
        return [[] for _ in range(self.n_buses)]

    def _chip_bus(self, k: int) -> tuple[int, int]:
        return k // self.chips_per_bus, k % self.chips_per_bus

    def direct_sequence(self, codes: np.ndarray, vm_i: np.ndarray, vm_q: np.ndarray) -> list[list[int]]:
        """Frames writing every channel's I and Q byte of ``codes [N, M]``, then LOAD per chip."""
        seq = self._per_bus()
        regs = self._registers(codes, vm_i, vm_q)
        for k in range(len(self.chips)):
            bus, addr = self._chip_bus(k)
            for c in range(self.C):
                i_byte, q_byte = regs[k, c]
                seq[bus].append(frame(False, addr, REG["CH_I"] + 2 * c, int(i_byte)))
                seq[bus].append(frame(False, addr, REG["CH_I"] + 2 * c + 1, int(q_byte)))
            seq[bus].append(frame(False, addr, REG["LOAD"], 0x01))
        return seq

    def preload_sequence(self, beams: list[np.ndarray], vm_i: np.ndarray, vm_q: np.ndarray,
                         first_state: int = 0) -> list[list[int]]:
        """Frames writing beam ``s`` (codes [N, M]) into RAM state ``first_state + s`` of every chip."""
        if first_state + len(beams) > self.n_states:
            raise SimulatorError(f"{len(beams)} beams from state {first_state} exceed the {self.n_states}-state RAM")
        seq = self._per_bus()
        for s, codes in enumerate(beams):
            regs = self._registers(codes, vm_i, vm_q)
            for k in range(len(self.chips)):
                bus, addr = self._chip_bus(k)
                base = REG["RAM"] + 2 * self.C * (first_state + s)
                for c in range(self.C):
                    seq[bus].append(frame(False, addr, base + 2 * c, int(regs[k, c, 0])))
                    seq[bus].append(frame(False, addr, base + 2 * c + 1, int(regs[k, c, 1])))
        return seq

    def recall_sequence(self, state: int) -> list[list[int]]:
        """Frames switching every chip to RAM state ``state``."""
        seq = self._per_bus()
        for k in range(len(self.chips)):
            bus, addr = self._chip_bus(k)
            seq[bus].append(frame(False, addr, REG["RECALL"], state))
        return seq

    def _registers(self, codes: np.ndarray, vm_i: np.ndarray, vm_q: np.ndarray) -> np.ndarray:
        """I/Q bytes per chip and channel, ``[chips, C, 2]`` (unused channels stay at reset)."""
        codes = np.asarray(codes)
        if codes.shape != (self.N, self.M):
            raise SimulatorError(f"codes must be [{self.N}, {self.M}], got {list(codes.shape)}")
        if codes.min() < 0 or codes.max() >= len(vm_i):
            raise SimulatorError(f"codes must lie in 0..{len(vm_i) - 1}")
        regs = np.full((len(self.chips), self.C, 2), 0x20, dtype=np.int64)
        e = (np.arange(self.M)[None, :] * self.N + np.arange(self.N)[:, None]).ravel()
        flat = codes.ravel()
        regs[e // self.C, e % self.C, 0] = vm_i[flat]
        regs[e // self.C, e % self.C, 1] = vm_q[flat]
        return regs

    # -- applied state ---------------------------------------------------------------------------
    def applied_registers(self) -> tuple[np.ndarray, np.ndarray]:
        """Applied I/Q bytes ``[N, M, 2]`` and gain bytes ``[N, M]`` of every element."""
        iq = np.stack([chip.applied_iq for chip in self.chips]).reshape(-1, 2)
        gain = np.concatenate([chip.applied_gain for chip in self.chips])
        e = np.arange(self.M)[None, :] * self.N + np.arange(self.N)[:, None]
        return iq[e], gain[e]

    def applied_codes(self, vm_i: np.ndarray, vm_q: np.ndarray) -> np.ndarray:
        """The code each element's applied I/Q pair stands for in the table, ``[N, M]``
        (-1 for a pair the table does not hold; the first code if the table repeats a pair)."""
        lookup: dict[tuple[int, int], int] = {}
        for c, pair in enumerate(zip(vm_i.tolist(), vm_q.tolist())):
            lookup.setdefault(pair, c)
        iq, _ = self.applied_registers()
        return np.vectorize(lambda i, q: lookup.get((int(i), int(q)), -1))(iq[..., 0], iq[..., 1])
