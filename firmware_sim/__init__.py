"""Simulated RF front-end controller, fed only by an exported bundle (numpy only).

* :mod:`firmware_sim.chip` -- one ADAR1000-like chip: SPI frames, register map, shadow
  registers and load strobe, beam RAM, rejection of invalid transactions;
* :mod:`firmware_sim.array` -- the N x M phase shifters on chips and SPI buses, the direct and
  beam-RAM programming sequences and their latency;
* :mod:`firmware_sim.physics` -- applied element weights (with calibration errors), sum rate,
  beampattern;
* :mod:`firmware_sim.replay` -- :func:`simulate`: replay a bundle and report;
* :mod:`firmware_sim.superframe` -- :func:`replay_superframe`: a JCEHB superframe bundle, analog
  codes programmed once and digital words per slot;
* :mod:`firmware_sim.transceiver` -- :func:`replay_transceiver`: an MSER bundle, K + 1 front ends
  programmed per design, scored by symbol error rate.

Imports numpy only; it reads the bundle files itself (it never imports the toolkit).
"""

from ._bundle import BundleData, SimulatorError, load_bundle, load_calibration, make_calibration, read_key
from .array import FrontEnd
from .chip import REG, Chip, decode, frame
from .replay import simulate
from .superframe import is_superframe_bundle, replay_superframe
from .transceiver import bundle_kind, replay_transceiver, symbol_error_rate, symbol_error_rate_16qam

__all__ = ["BundleData", "SimulatorError", "load_bundle", "load_calibration", "make_calibration", "read_key", "FrontEnd", "Chip", "REG",
           "frame", "decode", "simulate", "replay_superframe", "is_superframe_bundle", "replay_transceiver", "bundle_kind",
           "symbol_error_rate", "symbol_error_rate_16qam"]
