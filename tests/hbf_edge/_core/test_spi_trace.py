"""simulate --trace: the transaction CSV and the VCD waveform, read back with pyvcd's own tokenizer
and decoded bit by bit into frames, equal the simulator's transactions and its 25 MHz timing."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
from vcd.reader import TokenKind, tokenize

from hbf_edge import firmware_sim
from hbf_edge.spi_trace import write_trace_csv, write_trace_vcd

REFS = Path(__file__).resolve().parents[2] / "refs" / "v1"


def _signals(path):
    """{(bus, signal): [(time ps, value), ...]} from a VCD file."""
    names, scope, time, out = {}, [], 0, {}
    with open(path, "rb") as fh:
        for tok in tokenize(fh):
            if tok.kind is TokenKind.SCOPE:
                scope.append(tok.scope.ident)
            elif tok.kind is TokenKind.UPSCOPE:
                scope.pop()
            elif tok.kind is TokenKind.VAR:
                names[tok.var.id_code] = (int(scope[-1][3:]), tok.var.reference)
            elif tok.kind is TokenKind.CHANGE_TIME:
                time = tok.time_change
            elif tok.kind is TokenKind.CHANGE_SCALAR:
                out.setdefault(names[tok.scalar_change.id_code], []).append((time, int(tok.scalar_change.value)))
    return out


def _frames(signals, n_buses, chips_per_bus):
    """Decode every frame: a chip select's falling edge, then MOSI sampled on each rising SCLK edge
    until the select rises.  Returns sorted (time ps, bus, chip, frame) and the SCLK rising edges."""
    frames, rises = [], {}
    for bus in range(n_buses):
        mosi = signals.get((bus, "mosi"), [])
        sclk_up = [t for t, v in signals.get((bus, "sclk"), []) if v == 1]
        rises[bus] = sclk_up
        for chip in range(chips_per_bus):
            edges = signals.get((bus, f"cs_n{chip}"), [])
            for (t0, v0), (t1, v1) in zip(edges, edges[1:]):
                if v0 == 0 and v1 == 1:
                    word = 0
                    for t in (t for t in sclk_up if t0 <= t < t1):
                        value = [v for tm, v in mosi if tm <= t][-1]
                        word = word << 1 | value
                    frames.append((t0, bus, chip, word))
    return sorted(frames), rises


def _front_with_traffic():
    trace = []
    front = firmware_sim.FrontEnd(8, 2, channels_per_chip=4, chips_per_bus=2, n_states=4, spi_hz=25e6, trace=trace)
    rng = np.random.default_rng(0)
    vm_i, vm_q = np.arange(16, dtype=np.int64) + 1, 63 - np.arange(16, dtype=np.int64)
    for _ in range(2):
        front.run(front.direct_sequence(rng.integers(0, 16, (8, 2)), vm_i, vm_q))
    front.run(front.preload_sequence([rng.integers(0, 16, (8, 2)) for _ in range(2)], vm_i, vm_q))
    front.run(front.recall_sequence(1))
    front.run([[firmware_sim.frame(False, 1, 0x003, 9)], []])  # RECALL 9 >= 4 states: rejected
    return front, trace


def test_vcd_reads_back_to_the_transactions(tmp_path):
    front, trace = _front_with_traffic()
    assert trace[-1][-1] is False and all(r[-1] for r in trace[:-1])
    write_trace_vcd(trace, tmp_path / "t.vcd", 25e6, front.n_buses, front.chips_per_bus)
    frames, rises = _frames(_signals(tmp_path / "t.vcd"), front.n_buses, front.chips_per_bus)
    expected = sorted((round(t * 1e12), bus, chip, word) for t, bus, chip, _, _, _, word, _ in trace)
    assert frames == expected
    period = np.diff(rises[0])
    assert set(np.unique(period)) <= {40_000} | {int(p) for p in period if p > 40_000}  # 25 MHz inside a frame
    assert np.count_nonzero(period == 40_000) >= 23 * len([f for f in frames if f[1] == 0]) - 1
    times = sorted({f[0] for f in frames if f[1] == 0})
    assert min(np.diff(times)) == 24 * 40_000  # frames back to back on a bus, as the latency model counts
    loads = [t for t, v in _signals(tmp_path / "t.vcd").get((0, "load"), []) if v == 1]
    n_load = sum(1 for r in trace if r[1] == 0 and r[4] == 0x002 and r[-1])
    assert len(loads) == n_load > 0


def test_csv_holds_every_transaction(tmp_path):
    _, trace = _front_with_traffic()
    write_trace_csv(trace, tmp_path / "t.csv")
    rows = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert len(rows) == len(trace)
    got = sorted((round(float(r["time_ns"]) * 1000), int(r["bus"]), int(r["chip"]), int(r["frame"], 16), int(r["accepted"]))
                 for r in rows)
    assert got == sorted((round(t * 1e12), b, c, w, int(a)) for t, b, c, _, _, _, w, a in trace)


def test_simulate_trace_cli(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hbf_edge", "simulate", str(REFS / "upga_bundle"), "--out",
                           str(tmp_path / "sim"), "--trace", "--trace-beams", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader((tmp_path / "sim" / "trace.csv").open()))
    frames, _ = _frames(_signals(tmp_path / "sim" / "trace.vcd"), 64, 4)
    report = __import__("json").loads((tmp_path / "sim" / "simulate.json").read_text())
    window = 2 * report["latency_us"]["direct_switch"] * 1e-6
    assert len(frames) == sum(1 for r in rows if float(r["time_ns"]) * 1e-9 < window) > 0
    assert all(r["accepted"] == "1" for r in rows)
