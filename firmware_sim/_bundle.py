"""Reading an exported bundle with numpy and the standard library only.

The simulator must not depend on the toolkit that wrote the bundle, so it verifies the
manifest itself: known schema version, the manifest's own sha256, and the sha256 and size of
every file it lists.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["BundleData", "load_bundle", "load_calibration", "make_calibration", "SimulatorError"]

SCHEMA_VERSION = 2  # the writer's; 1 (no family / scoring keys) is read as well
READABLE_SCHEMAS = (1, 2)


class SimulatorError(ValueError):
    """The bundle or a calibration file cannot be used by the simulator.  (The CLI reports it
    like the toolkit's own errors: one line, exit code 2.)"""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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


def load_bundle(path: str | os.PathLike) -> BundleData:
    """Verify and load ``manifest.json``, ``lut.json`` and ``beams.npz`` of a bundle."""
    path = Path(path)
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise SimulatorError(f"{path} has no manifest.json: not a bundle")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimulatorError(f"{mpath} is corrupted: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("schema_version") not in READABLE_SCHEMAS:
        raise SimulatorError(f"unsupported bundle schema {manifest.get('schema_version') if isinstance(manifest, dict) else None!r}")
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    if hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest() != manifest.get("manifest_sha256"):
        raise SimulatorError(f"{mpath} has been altered")
    for name, meta in manifest.get("files", {}).items():
        fpath = path / name
        if not fpath.is_file():
            raise SimulatorError(f"bundle file {name} is missing")
        if fpath.stat().st_size != meta["bytes"] or _sha256(fpath) != meta["sha256"]:
            raise SimulatorError(f"bundle file {name} has been altered")
    for needed in ("lut.json", "beams.npz"):
        if needed not in manifest.get("files", {}):
            raise SimulatorError(f"the bundle does not list {needed}")
    lut = json.loads((path / "lut.json").read_text())
    with np.load(path / "beams.npz", allow_pickle=False) as data:
        beams = {k: data[k] for k in data.files}
    return BundleData(manifest, lut, beams)


def load_calibration(path: str | os.PathLike, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-code phase errors (radians) and gain errors (linear factor) from a JSON file with
    ``phase_error_deg`` and optionally ``gain_error_db``, each a list of ``2**Q`` numbers."""
    path = Path(path)
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SimulatorError(f"cannot read calibration file {path}: {exc}") from exc
    if not isinstance(data, dict) or "phase_error_deg" not in data:
        raise SimulatorError(f"{path}: a calibration file needs 'phase_error_deg' (and optionally 'gain_error_db')")
    phase = np.asarray(data["phase_error_deg"], dtype=np.float64)
    gain = np.asarray(data.get("gain_error_db", [0.0] * n_codes), dtype=np.float64)
    if phase.shape != (n_codes,) or gain.shape != (n_codes,):
        raise SimulatorError(f"{path}: calibration tables must have {n_codes} entries (one per code)")
    if not (np.all(np.isfinite(phase)) and np.all(np.isfinite(gain))):
        raise SimulatorError(f"{path}: calibration values must be finite")
    return np.deg2rad(phase), 10.0 ** (gain / 20.0)


def make_calibration(phase_bits: int, phase_error_deg: float = 3.0, gain_error_db: float = 0.0,
                     seed: int = 0) -> dict[str, list[float]]:
    """A calibration table with independent uniform per-code errors in ``+-phase_error_deg``
    and ``+-gain_error_db`` (a stand-in for a measured one), ready for ``json.dump``."""
    if not 1 <= phase_bits <= 16:
        raise SimulatorError(f"phase_bits must be 1..16, got {phase_bits}")
    if phase_error_deg < 0 or gain_error_db < 0:
        raise SimulatorError("error bounds must be >= 0")
    rng = np.random.default_rng(seed)
    n = 1 << phase_bits
    return {
        "phase_error_deg": rng.uniform(-phase_error_deg, phase_error_deg, n).tolist(),
        "gain_error_db": rng.uniform(-gain_error_db, gain_error_db, n).tolist(),
        "description": f"uniform +-{phase_error_deg} deg, +-{gain_error_db} dB per code, seed {seed}",
    }
