"""One ADAR1000-like beamformer chip: SPI frames, register map, shadow registers, beam RAM.

SPI frame (24 bits, MSB first)::

    bit 23      R/W        1 = read, 0 = write
    bits 22..21 chip       address of the chip on its bus (0..3)
    bits 20..8  register   13-bit register address
    bits 7..0   data

Register map of a chip with C channels and S beam states (reset values in brackets):

============  ==========  ====  ==================================================================
address       name        mode  meaning
============  ==========  ====  ==================================================================
0x000         CHIP_ID     R     [0x10] fixed identifier
0x001         STATUS      R     [0x00] bit 0: shadow differs from applied (a load is pending)
0x002         LOAD        W     writing 0x01 copies every shadow register to the applied state
0x003         RECALL      W     writing s < S applies beam state s from the beam RAM at once
0x010 + 2c    CH_I(c)     R/W   [0x20] vector-modulator I byte of channel c (shadowed)
0x011 + 2c    CH_Q(c)     R/W   [0x20] vector-modulator Q byte of channel c (shadowed)
0x040 + c     CH_GAIN(c)  R/W   [0x7F] gain of channel c, value / 127 (shadowed)
0x100 + 2Cs + 2c + {0, 1}  RAM  R/W   [0x20] beam state s: I, Q bytes of channel c
============  ==========  ====  ==================================================================

An I or Q byte is ``polarity << 5 | magnitude`` (bits 7..6 must be 0).  Invalid transactions
are rejected, counted by reason, and change nothing: an unknown address, a write to a
read-only register, a data value out of range (I/Q byte above 0x3F, LOAD other than 0x01,
RECALL index >= S), or a malformed frame (not an integer in 0 .. 2**24 - 1).
"""

from __future__ import annotations

import numpy as np

from ._verify import SimulatorError

__all__ = ["Chip", "frame", "decode", "REG", "REJECT_REASONS"]

REG = {"CHIP_ID": 0x000, "STATUS": 0x001, "LOAD": 0x002, "RECALL": 0x003, "CH_I": 0x010, "CH_GAIN": 0x040, "RAM": 0x100}
CHIP_ID = 0x10
IQ_RESET = 0x20  # +0: zero magnitude, positive polarity
GAIN_RESET = 0x7F
REJECT_REASONS = ("malformed", "unknown_address", "read_only", "out_of_range")


def _is_int(x: object) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def frame(read: bool, chip: int, address: int, data: int = 0) -> int:
    """Encode a 24-bit SPI frame."""
    if not (_is_int(chip) and _is_int(address) and _is_int(data) and 0 <= chip < 4 and 0 <= address < 1 << 13
            and 0 <= data < 256):
        raise SimulatorError(f"frame field out of range: chip={chip}, address={address:#x}, data={data}")
    return (int(read) << 23) | (chip << 21) | (address << 8) | data


def decode(word: int) -> tuple[bool, int, int, int]:
    """``(read, chip, address, data)`` of a 24-bit frame."""
    return bool(word >> 23 & 1), word >> 21 & 0x3, word >> 8 & 0x1FFF, word & 0xFF


class Chip:
    """Registers of one chip.

    Parameters
    ----------
    n_channels : int
        C, channels (phase shifters) per chip.
    n_states : int
        S, beam states of the beam RAM.
    """

    def __init__(self, n_channels: int = 4, n_states: int = 121) -> None:
        if not _is_int(n_channels) or n_channels < 1 or 0x010 + 2 * n_channels > 0x040:
            raise SimulatorError(f"channels per chip must be an integer in 1..24, got {n_channels!r}")
        if not _is_int(n_states) or n_states < 1 or 0x100 + 2 * n_channels * n_states > 1 << 13:
            raise SimulatorError(f"{n_states!r} beam states of {n_channels} channels do not fit the 13-bit address "
                                 f"space (at most {((1 << 13) - 0x100) // (2 * n_channels)})")
        self.n_channels = n_channels
        self.n_states = n_states
        self.shadow_iq = np.full((n_channels, 2), IQ_RESET, dtype=np.uint8)
        self.applied_iq = self.shadow_iq.copy()
        self.shadow_gain = np.full(n_channels, GAIN_RESET, dtype=np.uint8)
        self.applied_gain = self.shadow_gain.copy()
        self.ram = np.full((n_states, n_channels, 2), IQ_RESET, dtype=np.uint8)
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self.accepted = 0

    # -- address decoding --------------------------------------------------------------------
    def _locate(self, address: int) -> tuple[str, int, int] | None:
        C = self.n_channels
        if address in (REG["CHIP_ID"], REG["STATUS"], REG["LOAD"], REG["RECALL"]):
            return ("ctrl", address, 0)
        if REG["CH_I"] <= address < REG["CH_I"] + 2 * C:
            off = address - REG["CH_I"]
            return ("iq", off // 2, off % 2)
        if REG["CH_GAIN"] <= address < REG["CH_GAIN"] + C:
            return ("gain", address - REG["CH_GAIN"], 0)
        if REG["RAM"] <= address < REG["RAM"] + 2 * C * self.n_states:
            off = address - REG["RAM"]
            return ("ram", off // (2 * C), off % (2 * C))
        return None

    def _reject(self, reason: str) -> bool:
        self.rejected[reason] += 1
        return False

    def transact(self, read: bool, address: int, data: int) -> bool | int:
        """Apply one decoded transaction; a read returns its value, a write ``True``/``False``.
        Fields outside a frame's ranges (a non-bool ``read``, an address outside 13 bits, data
        outside 0..255 or not an integer) are rejected as ``malformed``, as on the SPI path."""
        if not isinstance(read, (bool, np.bool_)) or not _is_int(address) or not _is_int(data) \
                or not 0 <= address < 1 << 13 or not 0 <= data <= 0xFF:
            return self._reject("malformed")
        where = self._locate(address)
        if where is None:
            return self._reject("unknown_address")
        kind, a, b = where
        if read:
            self.accepted += 1
            if kind == "ctrl":
                if a == REG["CHIP_ID"]:
                    return CHIP_ID
                if a == REG["STATUS"]:
                    pending = not (np.array_equal(self.shadow_iq, self.applied_iq)
                                   and np.array_equal(self.shadow_gain, self.applied_gain))
                    return int(pending)
                return 0
            if kind == "iq":
                return int(self.shadow_iq[a, b])
            if kind == "gain":
                return int(self.shadow_gain[a])
            return int(self.ram[a, b // 2, b % 2])
        if kind == "ctrl":
            if a in (REG["CHIP_ID"], REG["STATUS"]):
                return self._reject("read_only")
            if a == REG["LOAD"]:
                if data != 0x01:
                    return self._reject("out_of_range")
                self.applied_iq = self.shadow_iq.copy()
                self.applied_gain = self.shadow_gain.copy()
            else:  # RECALL
                if data >= self.n_states:
                    return self._reject("out_of_range")
                self.applied_iq = self.ram[data].copy()
                self.shadow_iq = self.ram[data].copy()
            self.accepted += 1
            return True
        if kind in ("iq", "ram") and data > 0x3F:
            return self._reject("out_of_range")
        if kind == "iq":
            self.shadow_iq[a, b] = data
        elif kind == "gain":
            self.shadow_gain[a] = data
        else:
            self.ram[a, b // 2, b % 2] = data
        self.accepted += 1
        return True
