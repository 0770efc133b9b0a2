"""The controller simulator's SPI transactions as files a hardware engineer opens: a CSV of every
transaction and a VCD waveform (GTKWave) of SCLK, MOSI, one active-low chip select per chip and
the LOAD strobe, per bus, written with pyvcd.

The waveform follows the simulator's timing (:class:`firmware_sim.array.FrontEnd`): a frame is
24 SPI clock periods T, back to back on its bus, MSB first.  Within a frame, bit j is put on
MOSI at ``t + j T`` and sampled on the rising SCLK edge at ``t + (j + 1/2) T``; SCLK falls at
``t + (j + 1) T``, except after the last bit, where SCLK falls and the chip select rises at
``t + 23.75 T`` so that the next frame's select is a new edge (the datasheet's CS-high time,
which the latency model does not count).  ``load`` pulses for one period after an accepted
write of the LOAD register.  Times are in picoseconds.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Sequence

from hbf_edge._io import atomic_file

__all__ = ["write_trace_csv", "write_trace_vcd", "TRACE_COLUMNS", "LOAD_ADDRESS"]

TRACE_COLUMNS = ("time_ns", "bus", "chip", "read", "address", "data", "frame", "accepted")
LOAD_ADDRESS = 0x002
FRAME_BITS = 24


def write_trace_csv(transactions: Sequence[tuple[Any, ...]], path: str | os.PathLike) -> Path:
    """Every transaction, one row each, in time order (columns :data:`TRACE_COLUMNS`: the frame's
    start in ns to the picosecond; ``read`` and ``accepted`` as 0/1, ``address`` and ``frame`` in
    hex)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(TRACE_COLUMNS)
    for t, bus, chip, read, address, data, frame, accepted in sorted(transactions, key=lambda r: (r[0], r[1])):
        writer.writerow([f"{t * 1e9:.3f}", bus, chip, int(read), f"0x{address:03x}" if address >= 0 else "",
                         data, f"0x{frame:06x}" if frame >= 0 else "", int(accepted)])
    path = Path(path)
    with atomic_file(path) as tmp:
        tmp.write_text(buf.getvalue())
    return path


def write_trace_vcd(transactions: Sequence[tuple[Any, ...]], path: str | os.PathLike, spi_hz: float,
                    n_buses: int, chips_per_bus: int, until_s: float | None = None) -> Path:
    """The waveform of the well-formed transactions that start before ``until_s`` (all: None)."""
    from vcd import VCDWriter

    period_ps = 1e12 / spi_hz
    chosen = sorted((r for r in transactions if r[6] >= 0 and (until_s is None or r[0] < until_s)),
                    key=lambda r: (r[0], r[1]))
    changes: list[tuple[int, int, str, int]] = []  # (time ps, order, signal, value); order: a select last
    for t, bus, chip, _, address, _, frame, accepted in chosen:
        t0 = round(t * 1e12)

        def at(x: float) -> int:
            return t0 + round(x * period_ps)

        changes.append((t0, 1, f"{bus}.cs_n{chip}", 0))
        for j in range(FRAME_BITS):
            changes.append((at(j), 0, f"{bus}.mosi", frame >> (FRAME_BITS - 1 - j) & 1))
            changes.append((at(j + 0.5), 0, f"{bus}.sclk", 1))
            changes.append((at(j + 1 if j < FRAME_BITS - 1 else FRAME_BITS - 0.25), 0, f"{bus}.sclk", 0))
        changes.append((at(FRAME_BITS - 0.25), 0, f"{bus}.cs_n{chip}", 1))
        if accepted and address == LOAD_ADDRESS and not (frame >> 23 & 1):
            changes.append((at(FRAME_BITS), 0, f"{bus}.load", 1))
            changes.append((at(FRAME_BITS + 1), 0, f"{bus}.load", 0))
    changes.sort(key=lambda c: (c[0], c[1]))
    path = Path(path)
    with atomic_file(path) as tmp, open(tmp, "w") as fh:
        with VCDWriter(fh, timescale="1 ps", date="", comment="hbf-edge simulate --trace") as writer:
            var = {}
            for bus in range(n_buses):
                scope = f"spi.bus{bus}"
                var[f"{bus}.sclk"] = writer.register_var(scope, "sclk", "wire", size=1, init=0)
                var[f"{bus}.mosi"] = writer.register_var(scope, "mosi", "wire", size=1, init=0)
                var[f"{bus}.load"] = writer.register_var(scope, "load", "wire", size=1, init=0)
                for chip in range(chips_per_bus):
                    var[f"{bus}.cs_n{chip}"] = writer.register_var(scope, f"cs_n{chip}", "wire", size=1, init=1)
            for time_ps, _, name, value in changes:
                writer.change(var[name], time_ps, value)
    return path
