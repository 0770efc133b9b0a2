"""Candidate tables of the MSER network's candidate layers (numpy only; the layers:
:meth:`hbf_edge.families.mser.model.MserNet.candidate_layer`).

A table is ``[C, 4]``: per candidate, factors on a layer's P, W, theta_U and theta_F steps; a row
of zeros keeps the layer's input.  ``--candidates`` takes a grid's name or a ``.npy`` file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hbf_edge.errors import ConfigError

__all__ = ["CANDIDATE_GRIDS", "candidate_grid", "check_candidates", "read_candidates"]

# Candidate step factors (P, W, theta_U, theta_F) of a candidate layer, relative to the layer's
# steps.  "line": keep the design, the steps times 1/4 .. 16, and the steps in the shape of the
# paper preset's tuned GD-500 steps against its tuned GD-15 steps (P x16, W x1/16, theta_U x1,
# theta_F x4; README "MSER", the per-channel step study) times 1/4 .. 16.  Chosen from that
# study: without the second shape 15 such layers stay near GD-15 (8.6e-3 against 4.4e-3 at 15 dB).
_SCALES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
_GD500_SHAPE = (16.0, 1.0 / 16.0, 1.0, 4.0)
_LINE = [(0.0, 0.0, 0.0, 0.0)] + [(m, m, m, m) for m in _SCALES] + [tuple(m * x for x in _GD500_SHAPE)
                                                                     for m in _SCALES]
# "short": 7 of line's rows (keep; x1/4, 1, 4; the GD-500 shape x1, 4, 16), half the cost.  On
# the paper preset (model pc5, 300 test channels) 1.27e-2 / 3.93e-3 / 1.45e-3 at 5 / 15 / 25 dB
# against line's 1.13e-2 / 3.98e-3 / 1.39e-3; without the x1/4 row (keep; x1; the shape x4, 16)
# 2.23e-2 / 9.66e-3 / 3.06e-3 (README, "Candidate layers").
CANDIDATE_GRIDS = {
    "none": None,
    "line": _LINE,
    "short": [_LINE[i] for i in (0, 1, 3, 5, 10, 12, 14)],
}


def candidate_grid(name: str) -> np.ndarray | None:
    """A named candidate table (:data:`CANDIDATE_GRIDS`; ``"none"``: no candidates)."""
    if name not in CANDIDATE_GRIDS:
        raise ConfigError(f"unknown candidate grid {name!r}; known: {', '.join(CANDIDATE_GRIDS)}")
    return None if CANDIDATE_GRIDS[name] is None else np.array(CANDIDATE_GRIDS[name], dtype=np.float64)


def check_candidates(candidates: np.ndarray) -> np.ndarray:
    """A candidate table ``[C, 4]`` of step factors (P, W, theta_U, theta_F), finite and >= 0,
    as float64; else :class:`~hbf_edge.errors.ConfigError` in one line."""
    c = np.asarray(candidates, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 4 or len(c) < 1:
        raise ConfigError(f"candidates must be a [C, 4] table of step factors (P, W, theta_U, theta_F), got shape "
                          f"{c.shape}")
    if not (np.all(np.isfinite(c)) and np.all(c >= 0)):
        raise ConfigError("candidate step factors must be finite and >= 0")
    return np.ascontiguousarray(c)


def read_candidates(spec: str) -> np.ndarray | None:
    """``--candidates``: a grid's name (:data:`CANDIDATE_GRIDS`) or a ``.npy`` file holding a
    ``[C, 4]`` table (checked; one-line :class:`~hbf_edge.errors.ConfigError` otherwise)."""
    if spec in CANDIDATE_GRIDS:
        return candidate_grid(spec)
    path = Path(spec)
    if path.suffix != ".npy":
        raise ConfigError(f"--candidates takes {', '.join(CANDIDATE_GRIDS)} or a .npy file of a [C, 4] table, "
                          f"got {spec!r}")
    if not path.is_file():
        raise ConfigError(f"--candidates: no such file {path}")
    try:
        table = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--candidates: cannot read {path} as a .npy array ({exc})") from exc
    return check_candidates(table)
