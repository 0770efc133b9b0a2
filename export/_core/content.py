"""What :func:`export.read_bundle` checks after the hashes: the content a consumer will trust.

The hashes say only that the files are the ones the manifest names; whoever can edit a file can
recompute them.  So the reader also checks what it hands on, for every family alike:

- every ``*.json`` member is strict JSON (no NaN / Infinity) of bounded size and depth;
- ``beams.npz`` holds numeric arrays only (no object arrays, no pickles), every float finite;
- the UPGA-style beams (``codes``, ``H``, ``p_t``, ``noise``, the W words), when present, have the
  manifest's sizes, codes within ``0..2**Q-1`` for the output's phase bits (1..16, the same in
  ``beams.npz`` and ``lut.json``), a real W
  format whose words lie within it, positive powers and no all-zero user channel.

The simulator checks the same with its own code (``firmware_sim._verify.check_content``): it
must prove the format without the toolkit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge._io import read_json

__all__ = ["check_bundle_content"]


def check_bundle_content(path: Path, manifest: dict[str, Any], error: type[Exception]) -> None:
    """Raise ``error`` (one line naming the member and the reason) on content no consumer may trust."""
    tables = {name: read_json(path / name, error) for name in manifest["files"] if name.endswith(".json")}
    try:
        with np.load(path / "beams.npz", allow_pickle=False) as data:
            beams = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise error(f"{path}/beams.npz cannot be read: {exc}") from exc
    for key, a in beams.items():
        if a.dtype.kind not in "biufc":
            raise error(f"beams.npz: {key} is a {a.dtype} array; only numbers belong in a bundle")
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            raise error(f"beams.npz: {key} holds NaN or infinite values")
    if "codes" in beams:
        lut = tables.get("lut.json")
        output = lut.get("output") if isinstance(lut, dict) else None
        _check_designs(beams, manifest.get("hardware"), output if isinstance(output, dict) else {}, error)


def _array(beams: dict[str, np.ndarray], key: str, kinds: str, shape: tuple[int | None, ...],
           error: type[Exception]) -> np.ndarray:
    a = beams.get(key)
    if a is None:
        raise error(f"beams.npz has codes but no {key}")
    if a.dtype.kind not in kinds or a.ndim != len(shape) or any(w is not None and w != s
                                                                 for w, s in zip(shape, a.shape)):
        want = "x".join("?" if w is None else str(w) for w in shape)
        raise error(f"beams.npz: {key} must be a [{want}] array of kind {kinds!r}, got {a.dtype} {list(a.shape)}")
    return a


def _check_designs(beams: dict[str, np.ndarray], hardware: Any, output: dict[str, Any],
                   error: type[Exception]) -> None:
    """``hardware`` gives the sizes (its phase bits are layer 0's, which per-layer precision
    may set apart from the output's); ``output`` is ``lut.json``'s output stage."""
    sizes = hardware if isinstance(hardware, dict) else {}
    N, M, K = (sizes.get(k) if isinstance(sizes.get(k), int) else None for k in ("n_antennas", "n_rf", "n_users"))
    Q = int(_array(beams, "phase_bits", "iu", (), error))
    if not 1 <= Q <= 16 or ("phase_bits" in output and output["phase_bits"] != Q):
        raise error(f"beams.npz: phase_bits {Q} is not 1..16 or differs from lut.json's output phase_bits")
    codes = _array(beams, "codes", "iu", (None, N, M), error)
    B = codes.shape[0]
    if B == 0 or codes.min() < 0 or codes.max() >= 1 << Q:
        raise error(f"beams.npz: codes must be 0..{(1 << Q) - 1} for {Q}-bit phases, in at least one beam")
    H = _array(beams, "H", "c", (B, codes.shape[1], K), error)
    if not np.all(np.any(H != 0, axis=1)):
        raise error("beams.npz: H has an all-zero user channel")
    for key in ("p_t", "noise"):
        if np.any(_array(beams, key, "f", (B,), error) <= 0):
            raise error(f"beams.npz: {key} must be > 0")
    word = int(_array(beams, "w_word_bits", "iu", (), error))
    frac = int(_array(beams, "w_frac_bits", "iu", (), error))
    if not 2 <= word <= 32 or not 0 <= frac < word:
        raise error(f"beams.npz: W words of {word} bits with {frac} fraction bits are not a format")
    for key in ("w_re", "w_im"):
        w = _array(beams, key, "iu", (B, codes.shape[2], H.shape[2]), error)
        if w.min() < -(1 << (word - 1)) or w.max() >= 1 << (word - 1):
            raise error(f"beams.npz: {key} holds words outside {word} bits")
