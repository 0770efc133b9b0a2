"""Reading an exported bundle with numpy and the standard library only.

The simulator must not depend on the toolkit that wrote the bundle, so it verifies it itself
(:mod:`firmware_sim._verify`): known schema version, member names confined to the bundle, the
sha256 and size of every member and of the manifest, the HMAC when a key is given, and the
content it is about to program.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from ._verify import SimulatorError, check_content, read_json, read_key, verify_members

__all__ = ["BundleData", "load_bundle", "load_calibration", "make_calibration", "SimulatorError", "read_key",
           "int_array", "word_format", "check_distinct_pairs"]

SCHEMA_VERSION = 2  # the writer's; 1 (no family / scoring keys) is read as well
READABLE_SCHEMAS = (1, 2)


@dataclasses.dataclass(frozen=True)
class BundleData:
    """What the controller needs from a bundle."""

    manifest: dict
    lut: dict
    beams: dict

    @property
    def n_antennas(self) -> int:
        return int(self.lut["sizes"]["N"])

    @property
    def n_rf(self) -> int:
        return int(self.lut["sizes"]["M"])

    @property
    def n_users(self) -> int:
        return int(self.lut["sizes"]["K"])

    @property
    def phase_bits(self) -> int:
        return int(self.lut["output"]["phase_bits"])


def read_members(path: Path, description: str, key: bytes | None) -> tuple[dict, Any, dict]:
    """The verified manifest, the JSON member ``description`` and the arrays of ``beams.npz``
    (:mod:`firmware_sim._verify`: structure, hashes, the HMAC when ``key`` is given)."""
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise SimulatorError(f"{path} has no manifest.json: not a bundle")
    manifest = read_json(mpath, "bundle manifest")
    if not isinstance(manifest, dict) or manifest.get("schema_version") not in READABLE_SCHEMAS:
        raise SimulatorError(f"unsupported bundle schema {manifest.get('schema_version') if isinstance(manifest, dict) else None!r}")
    verify_members(path, manifest, (description, "beams.npz"), key)
    text = read_json(path / description, description)
    try:
        with np.load(path / "beams.npz", allow_pickle=False) as data:
            beams = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise SimulatorError(f"{path}/beams.npz cannot be read: {exc}") from exc
    return manifest, text, beams


def int_array(beams: dict, name: str, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
    """``beams[name]`` as int64, checked to be integers of ``shape`` within ``lo .. hi``."""
    a = beams.get(name)
    if a is None or a.dtype.kind not in "iu" or a.shape != shape:
        raise SimulatorError(f"beams.npz: {name} must be integers of shape {list(shape)}")
    if a.size and (a.min() < lo or a.max() > hi):
        raise SimulatorError(f"beams.npz: {name} holds values outside {lo}..{hi}")
    return a.astype(np.int64)


def check_distinct_pairs(vm_i: np.ndarray, vm_q: np.ndarray, what: str) -> None:
    """Refuse a vector-modulator table (``what``, e.g. "the 8-bit vector-modulator table") whose
    codes share an I/Q register pair: read back, those codes could not be told apart."""
    if len(set(zip(vm_i.tolist(), vm_q.tolist()))) < len(vm_i):
        raise SimulatorError(f"{what} repeats an I/Q pair: the chips cannot tell these codes apart (export a model "
                             "quantized with fewer phase bits)")


def word_format(info: dict, name: str, member: str) -> tuple[int, int]:
    """``(word_bits, frac_bits)`` of the streamed words ``name`` that the JSON ``member`` describes."""
    try:
        fmt = info["words"][name]
        bits, frac = int(fmt["word_bits"]), int(fmt["frac_bits"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SimulatorError(f"{member}: words.{name} needs word_bits and frac_bits") from exc
    if not (2 <= bits <= 32 and 0 <= frac < bits):
        raise SimulatorError(f"{member}: words.{name} out of range")
    return bits, frac


def load_bundle(path: str | os.PathLike, key: bytes | None = None) -> BundleData:
    """Verify and load ``manifest.json``, ``lut.json`` and ``beams.npz`` of a bundle
    (:func:`read_members`), and check the content the controller is about to program."""
    manifest, lut, beams = read_members(Path(path), "lut.json", key)
    check_content(lut, beams)
    return BundleData(manifest, lut, beams)


def load_calibration(path: str | os.PathLike, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-code phase errors (radians) and gain errors (linear factor) from a JSON file with
    ``phase_error_deg`` and optionally ``gain_error_db``, each a list of ``2**Q`` numbers."""
    path = Path(path)
    if not path.is_file():
        raise SimulatorError(f"calibration file {path} does not exist")
    data: Any = read_json(path, "calibration file")
    if not isinstance(data, dict) or "phase_error_deg" not in data:
        raise SimulatorError(f"{path}: a calibration file needs 'phase_error_deg' (and optionally 'gain_error_db')")
    tables = []
    for key, default in (("phase_error_deg", None), ("gain_error_db", [0.0] * n_codes)):
        values = data.get(key, default)
        if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in values):
            raise SimulatorError(f"{path}: {key} must be a list of numbers")
        tables.append(np.asarray(values, dtype=np.float64))
    phase, gain = tables
    if phase.shape != (n_codes,) or gain.shape != (n_codes,):
        raise SimulatorError(f"{path}: calibration tables must have {n_codes} entries (one per code)")
    if np.any(np.abs(phase) > 180.0) or np.any(np.abs(gain) > 60.0):  # (read_json refuses NaN; 1e999 is inf)
        raise SimulatorError(f"{path}: phase errors must lie within +-180 deg and gain errors within +-60 dB")
    return np.deg2rad(phase), 10.0 ** (gain / 20.0)


def make_calibration(phase_bits: int, phase_error_deg: float = 3.0, gain_error_db: float = 0.0,
                     seed: int = 0) -> dict[str, list[float]]:
    """A calibration table with independent uniform per-code errors in ``+-phase_error_deg``
    and ``+-gain_error_db`` (a stand-in for a measured one), ready for ``json.dump``."""
    if isinstance(phase_bits, bool) or not isinstance(phase_bits, int) or not 1 <= phase_bits <= 16:
        raise SimulatorError(f"phase_bits must be 1..16, got {phase_bits}")
    if not (0 <= phase_error_deg <= 180 and 0 <= gain_error_db <= 60):  # NaN fails both
        raise SimulatorError("error bounds must be finite, phase 0..180 deg and gain 0..60 dB")
    rng = np.random.default_rng(seed)
    n = 1 << phase_bits
    return {
        "phase_error_deg": rng.uniform(-phase_error_deg, phase_error_deg, n).tolist(),
        "gain_error_db": rng.uniform(-gain_error_db, gain_error_db, n).tolist(),
        "description": f"uniform +-{phase_error_deg} deg, +-{gain_error_db} dB per code, seed {seed}",
    }
