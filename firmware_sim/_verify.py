"""Verifying a bundle before the controller trusts it (numpy and the standard library only).

Three layers, each refusing with one :class:`SimulatorError` line:

1. **Structure**: the manifest is a JSON object of bounded size and depth with a known schema
   version; ``files`` is a non-empty object of member name -> ``{"sha256": 64 hex digits,
   "bytes": int}``; every name is a plain file name (no path separator, no ``..``, not
   absolute, no symbolic link), so nothing outside the bundle is ever opened or hashed.
2. **Integrity**: every member's size and sha256 match, and the manifest's own sha256.  The
   sha256 detects accidental damage only: whoever can edit a file can recompute the hashes.
   **Authenticity** needs a key: with ``key`` (the 32 bytes of ``hbf-edge keygen``), the
   manifest's ``manifest_hmac`` -- HMAC-SHA256 of its canonical content -- must match, so a
   bundle edited and re-hashed by anyone without the key is refused.  The key is symmetric:
   the exporter and the controller share it, and it must stay secret on both sides.
3. **Content**: after the hashes, the arrays and tables the controller reads are checked --
   shapes, dtypes, code and word ranges, finite channels, positive powers, sane formats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SimulatorError", "read_json", "manifest_digest", "manifest_hmac", "read_key", "verify_members",
           "check_content", "MAX_JSON_BYTES"]

MAX_JSON_BYTES = 64 << 20  # a manifest or lut.json beyond this is refused before parsing
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_UNSIGNED = ("manifest_sha256", "manifest_hmac")


class SimulatorError(ValueError):
    """The bundle or a calibration file cannot be used by the simulator.  (The CLI reports it
    like the toolkit's own errors: one line, exit code 2.)"""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path, what: str) -> Any:
    """A JSON file of bounded size and nesting, strict (no NaN / Infinity)."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise SimulatorError(f"{what} {path} is larger than {MAX_JSON_BYTES >> 20} MiB")
        return json.loads(path.read_text(), parse_constant=_no_constant)
    except SimulatorError:
        raise
    except RecursionError:
        raise SimulatorError(f"{what} {path} is nested too deeply") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise SimulatorError(f"{what} {path} is corrupted: {exc}") from exc


def _canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in manifest.items() if k not in _UNSIGNED}, sort_keys=True).encode()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's content without its own hash (as the writer computes it; the
    HMAC, when present, is part of that content)."""
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def manifest_hmac(manifest: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 (hex) of the manifest's content without its hash and its HMAC."""
    return hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()


def read_key(path: str | Path) -> bytes:
    """The 32-byte key of a key file (64 hex digits, as ``hbf-edge keygen`` writes it)."""
    try:
        text = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SimulatorError(f"cannot read key file {path}: {exc}") from exc
    if not _HEX64.match(text):
        raise SimulatorError(f"key file {path} must hold 64 hex digits (a 32-byte key)")
    return bytes.fromhex(text)


def verify_members(path: Path, manifest: Any, required: tuple[str, ...], key: bytes | None) -> dict[str, Any]:
    """Check a parsed manifest's structure, members, hashes and (with ``key``) its HMAC."""
    if not isinstance(manifest, dict):
        raise SimulatorError(f"{path}/manifest.json must hold a JSON object")
    if manifest.get("manifest_sha256") != manifest_digest(manifest):
        raise SimulatorError(f"{path}/manifest.json has been altered (its content does not match its sha256)")
    if key is not None:
        tag = manifest.get("manifest_hmac")
        if not isinstance(tag, str):
            raise SimulatorError(f"{path} is not signed (no manifest_hmac) but a key was given")
        if not hmac.compare_digest(tag, manifest_hmac(manifest, key)):
            raise SimulatorError(f"{path} is not signed with this key (forged or re-hashed, or another key)")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise SimulatorError(f"{path}/manifest.json: 'files' must be a non-empty object of name -> sha256 and bytes")
    root = path.resolve()
    for name, meta in files.items():
        if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
                or "\0" in name or Path(name).is_absolute()):
            raise SimulatorError(f"{path}/manifest.json names {name!r}: bundle members are plain file names")
        if (not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str) or not _HEX64.match(meta["sha256"])
                or not isinstance(meta.get("bytes"), int) or isinstance(meta["bytes"], bool) or meta["bytes"] < 0):
            raise SimulatorError(f"{path}/manifest.json: the entry of {name} needs 'sha256' (64 hex) and 'bytes' (int >= 0)")
        fpath = path / name
        if fpath.is_symlink() or fpath.resolve().parent != root:
            raise SimulatorError(f"bundle file {name} is a link or lies outside the bundle")
        if not fpath.is_file():
            raise SimulatorError(f"bundle file {name} is missing")
        h = hashlib.sha256()
        with open(fpath, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        if fpath.stat().st_size != meta["bytes"] or h.hexdigest() != meta["sha256"]:
            raise SimulatorError(f"bundle file {name} has been altered (sha256 differs from the manifest)")
    for name in required:
        if name not in files:
            raise SimulatorError(f"the bundle does not list {name}")
    return manifest


def _array(beams: dict[str, np.ndarray], name: str, kind: str, shape: tuple[int | None, ...]) -> np.ndarray:
    if name not in beams:
        raise SimulatorError(f"beams.npz has no {name}")
    a = beams[name]
    if a.dtype.kind not in kind or a.ndim != len(shape) or any(w is not None and w != s for w, s in zip(shape, a.shape)):
        want = "x".join("?" if w is None else str(w) for w in shape)
        raise SimulatorError(f"beams.npz: {name} must be a [{want}] array of kind {kind!r}, got {a.dtype} {list(a.shape)}")
    return a


def _int(table: Any, key: str, lo: int, hi: int, where: str) -> int:
    value = table.get(key) if isinstance(table, dict) else None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SimulatorError(f"lut.json: {where}.{key} must be an integer in {lo}..{hi}, got {value!r}")
    return value


def check_content(lut: Any, beams: dict[str, np.ndarray]) -> None:
    """The tables and arrays the controller reads: sizes, code and word ranges, finite values."""
    sizes = lut.get("sizes") if isinstance(lut, dict) else None
    N, M, K = (_int(sizes, k, 1, 1 << 16, "sizes") for k in ("N", "M", "K"))
    out = lut.get("output")
    Q = _int(out, "phase_bits", 1, 16, "output")
    vm = out.get("vector_modulator")
    if not isinstance(vm, dict) or not all(isinstance(vm.get(k), list) and len(vm[k]) == 1 << Q for k in ("i", "q")):
        raise SimulatorError(f"lut.json: output.vector_modulator needs 'i' and 'q' lists of 2**{Q} entries")
    for k in ("i", "q"):
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 0x3F for v in vm[k]):
            raise SimulatorError(f"lut.json: vector-modulator {k} bytes must be integers in 0..0x3F")
    codes = _array(beams, "codes", "iu", (None, N, M))
    B = codes.shape[0]
    if B == 0 or codes.min() < 0 or codes.max() >= 1 << Q:
        raise SimulatorError(f"beams.npz: codes must be 0..{(1 << Q) - 1} for {Q}-bit phases, in at least one beam")
    H = _array(beams, "H", "fc", (B, N, K))
    if not np.all(np.isfinite(H)) or not np.all(np.any(H != 0, axis=1)):
        raise SimulatorError("beams.npz: H must be finite, with no all-zero user channel")
    for name in ("p_t", "noise"):
        a = _array(beams, name, "f", (B,))
        if not np.all(np.isfinite(a)) or np.any(a <= 0):
            raise SimulatorError(f"beams.npz: {name} must be finite and > 0")
    word = int(_array(beams, "w_word_bits", "iu", ()))
    frac = int(_array(beams, "w_frac_bits", "iu", ()))
    if not 2 <= word <= 32 or not 0 <= frac < word:
        raise SimulatorError(f"beams.npz: W words of {word} bits with {frac} fraction bits are not a format")
    for name in ("w_re", "w_im"):
        w = _array(beams, name, "iu", (B, M, K))
        if w.min() < -(1 << (word - 1)) or w.max() >= 1 << (word - 1):
            raise SimulatorError(f"beams.npz: {name} holds words outside {word} bits")
