"""The artifact bundle: everything a target needs, verified by a manifest.

Layout (``hbf-edge export MODEL_DIR --out BUNDLE``)::

    BUNDLE/
      manifest.json    schema version, hardware spec, precision, model config, sha256 + size of
                       every file, and the sha256 of the manifest's own canonical content
      model.onnx       the float network with the model's step sizes (opset 17, float32)
      model.qcdq.onnx  the quantized hardware datapath, standard operators (onnxruntime, float64)
      model.qonnx.onnx the same datapath with QONNX ``Quant`` nodes (Brevitas QONNX export)
      lut.json         formats, per-layer and output phase tables, vector-modulator registers,
                       step sizes in the step format
      lut.h            the same tables as ``static const`` C arrays, formats in comments
      lut_*.mem        the tables as hex words for HDL ``$readmemh``
      beams.npz        channels, powers, and the hardware kernel's phase codes and W words

A UPGANet (JCAS) bundle has no quantized graphs (the QAT network keeps float arithmetic between
its projections, so there is no bit-exact torch datapath to trace); its ``lut.json`` and
``beams.npz`` carry the sensing task as well (:mod:`export.upganet.bundle`).

The bundle is written into a temporary directory and renamed into place, so it is either
complete or absent.  :func:`read_bundle` refuses a bundle with an unknown schema version, a
missing file, or any file (manifest included) whose bytes changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge import __version__
from hbf_edge._io import atomic_dir, deferred_signals, read_json, sha256_file
from hbf_edge.channels import validate_miso_channels
from hbf_edge.errors import HbfEdgeError
from hbf_edge.modelfiles import read_model_dir

from hbf_edge.export._core.content import check_bundle_content

__all__ = ["BundleError", "Bundle", "SCHEMA_VERSION", "write_bundle", "read_bundle", "sign_bundle", "read_key",
           "write_key"]

SCHEMA_VERSION = 2  # 2 adds "family" and "scoring"; 1 is still read
READABLE_SCHEMAS = (1, 2)
MANIFEST = "manifest.json"
_log = logging.getLogger("hbf_edge")  # the steps of a long export, one line each


class BundleError(HbfEdgeError, ValueError):
    """A bundle is missing files, has been altered, or has an unknown schema version."""


def _manifest_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _check_channel_words(H: np.ndarray, fmt: Any) -> None:
    """Refuse beam channels the datapath cannot represent: a user whose channel rounds to zero
    in the channel format (the hardware would divide by a zero power; the error must name the
    input, not the exporter's own check of graph against kernel).  Saturation is not refused:
    the kernel and the graph saturate alike and count it at the ``input`` site."""
    words, _ = fmt.quantize(np.concatenate([H.real, H.imag], axis=1))  # [B, 2N, K]
    dead = ~np.any(words != 0, axis=1)
    if dead.any():
        b, k = np.argwhere(dead)[0]
        raise BundleError(f"beam channels: user {k} of channel {b} (and {int(dead.sum()) - 1} more) rounds to zero in "
                          f"the channel format ({fmt.word_bits} bits, {fmt.frac_bits} fraction): the channels are too "
                          "weak for it; scale them or widen the format")


def write_bundle(model_dir: str | os.PathLike, out: str | os.PathLike, H: np.ndarray, snr_db: float = 10.0,
                 noise: float = 1.0, overwrite: bool = False, parts: Any = None, scoring: str = "sum_rate") -> Path:
    """Export a quantized model directory as a verified bundle.

    Parameters
    ----------
    H : ndarray of complex, [B, N, K]
        Channels for ``beams.npz`` (the hardware kernel's designs at ``snr_db``).
    parts : callable, optional
        The family's parts, ``parts(model_dir, config, arrays, H, snr_db, noise) -> (texts,
        beams, writers, layer0_spec)`` (its export stage); default: UPGA's
        (:func:`hbf_edge.export.upga.bundle.upga_parts`).
    scoring : str
        What the controller simulator scores the replayed beams by (manifest ``scoring``):
        ``sum_rate``, or ``sum_rate+beampattern`` for a bundle with a sensing task.
    """
    if parts is None:
        from hbf_edge.export.upga.bundle import upga_parts as parts

    config, arrays = read_model_dir(model_dir)
    if config.precision is None:
        raise BundleError(f"{model_dir} is a float model: export needs a quantized one (`hbf-edge quantize`)")
    H = validate_miso_channels(H, config.spec.n_antennas, config.spec.n_users, name="beam channels")
    _check_channel_words(H, config.spec.channel)
    _log.info(f"hbf-edge: export: designing {H.shape[0]} beams with the hardware kernel, building the tables ...")
    texts, beams, writers, layer0 = parts(model_dir, config, arrays, H, snr_db, noise)
    try:
        extra = {"family": config.family, "scoring": scoring, "hardware": layer0.to_dict(),
                 "precision": config.precision, "model": {k: v for k, v in config.to_dict().items() if k != "history"},
                 "beams": {"snr_db": snr_db, "noise_power": noise, "n_channels": int(H.shape[0])}}
        return _write(out, overwrite, texts, beams, writers, extra)
    finally:
        _close_writers(writers)


def _close_writers(writers: list) -> None:
    """Stop the writers that run a second process (:mod:`export._core.side`; idempotent)."""
    for writer in writers:
        close = getattr(writer[1] if isinstance(writer, tuple) else writer, "close", None)
        if close is not None:
            close()


def _write(out: str | os.PathLike, overwrite: bool, texts: dict[str, str], beams: dict[str, np.ndarray],
           writers: list, extra: dict[str, Any]) -> Path:
    """Write the files into a temporary directory (``writers`` add the ONNX graphs and return
    what they verified), then the manifest, then rename into place.  A writer with a ``close``
    (a second process, :mod:`export._core.side`) is closed however this ends."""
    try:
        return _write_files(out, overwrite, texts, beams, writers, extra)
    finally:
        _close_writers(writers)


def _write_files(out: str | os.PathLike, overwrite: bool, texts: dict[str, str], beams: dict[str, np.ndarray],
                 writers: list, extra: dict[str, Any]) -> Path:
    with deferred_signals():  # the writers' native imports, before anything is written
        for native in ("onnx", "onnxruntime"):
            importlib.import_module(native)
    try:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            for name, text in texts.items():
                (tmp / name).write_text(text)
            with open(tmp / "beams.npz", "wb") as fh:
                np.savez(fh, **beams)
            verified: dict[str, Any] = {}
            for i, writer in enumerate(writers, 1):  # (what, write) pairs, or bare callables
                what, write = writer if isinstance(writer, tuple) else ("an ONNX graph", writer)
                _log.info(f"hbf-edge: export: {what} ({i}/{len(writers)}) ...")
                verified.update(write(tmp) or {})
            files = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in sorted(tmp.iterdir())}
            manifest = {"schema_version": SCHEMA_VERSION, "generator": f"hbf-edge {__version__}", **extra,
                        "verified": verified, "files": files}
            manifest["manifest_sha256"] = _manifest_digest(manifest)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except FileExistsError as exc:
        raise BundleError(str(exc)) from exc
    return Path(out)


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk."""

    path: Path
    manifest: dict

    def lut(self) -> dict[str, Any]:
        return read_json(self.path / "lut.json", BundleError)

    def beams(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "beams.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def text(self, name: str) -> str:
        return (self.path / name).read_text()


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _manifest_hmac(manifest: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of the manifest's content without its own hash and HMAC (the simulator
    computes the same, ``firmware_sim._verify.manifest_hmac``)."""
    body = {k: v for k, v in manifest.items() if k not in ("manifest_sha256", "manifest_hmac")}
    return hmac.new(key, json.dumps(body, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def read_key(path: str | os.PathLike) -> bytes:
    """The 32-byte key of a key file (64 hex digits, ``hbf-edge keygen``)."""
    try:
        text = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"cannot read key file {path}: {exc}") from exc
    if not _HEX64.match(text):
        raise BundleError(f"key file {path} must hold 64 hex digits (a 32-byte key)")
    return bytes.fromhex(text)


def write_key(path: str | os.PathLike) -> Path:
    """A new random 32-byte key in a new file readable by its owner only (refuses to replace one)."""
    import secrets

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BundleError(f"{path} already exists: a key is never overwritten") from None
    except OSError as exc:
        raise BundleError(f"cannot create key file {path}: {exc}") from exc
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return path


def sign_bundle(path: str | os.PathLike, key: bytes) -> None:
    """Add ``manifest_hmac`` (HMAC-SHA256 with ``key``) to a verified bundle's manifest; the
    manifest is replaced atomically (a crash leaves the unsigned, valid bundle)."""
    from hbf_edge._io import atomic_file

    bundle = read_bundle(path)
    manifest = {k: v for k, v in bundle.manifest.items() if k != "manifest_sha256"}
    manifest["manifest_hmac"] = _manifest_hmac(manifest, key)
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    with atomic_file(Path(path) / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def _check_members(path: Path, files: Any) -> None:
    """(The simulator checks the same with its own code, ``firmware_sim._verify``: it must
    prove the format without the toolkit.)  ``files`` is a non-empty object of plain member names (confined to the bundle) ->
    ``{"sha256": 64 hex, "bytes": int >= 0}``; every member exists, is no link, and matches."""
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{path}/{MANIFEST}: 'files' must be a non-empty object of name -> sha256 and bytes")
    root = path.resolve()
    for name, meta in files.items():
        if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
                or "\0" in name or Path(name).is_absolute()):
            raise BundleError(f"{path}/{MANIFEST} names {name!r}: bundle members are plain file names")
        if (not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str) or not _HEX64.match(meta["sha256"])
                or not isinstance(meta.get("bytes"), int) or isinstance(meta["bytes"], bool) or meta["bytes"] < 0):
            raise BundleError(f"{path}/{MANIFEST}: the entry of {name} needs 'sha256' (64 hex) and 'bytes' (int >= 0)")
        fpath = path / name
        if fpath.is_symlink() or fpath.resolve().parent != root:
            raise BundleError(f"bundle file {name} is a link or lies outside the bundle")
        if not fpath.is_file():
            raise BundleError(f"bundle file {name} is missing")
        if fpath.stat().st_size != meta["bytes"] or sha256_file(fpath) != meta["sha256"]:
            raise BundleError(f"bundle file {name} has been altered (sha256 differs from the manifest)")
    required = {"beams.npz"} | ({"deepfp.json"} if "deepfp.json" in files else {"lut.json"})
    missing = sorted(required - set(files))
    if missing:
        raise BundleError(f"the bundle does not list {', '.join(missing)}")


def read_bundle(path: str | os.PathLike, key: bytes | None = None) -> Bundle:
    """Open a bundle after checking its schema version, its member names (confined to the
    bundle), every member's sha256 and size, the required members, with ``key`` its HMAC (a
    bundle edited and re-hashed without the key is refused), and then its content
    (:mod:`export._core.content`: strict JSON, numeric finite arrays, code and word ranges).

    The sha256 alone detects accidental damage only: anyone who can edit a file can also
    recompute the hashes.
    """
    path = Path(path)
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{path} has no {MANIFEST}: not a bundle")
    manifest = read_json(mpath, BundleError)
    if not isinstance(manifest, dict) or "files" not in manifest:
        raise BundleError(f"{mpath} is not a bundle manifest")
    version = manifest.get("schema_version")
    if version not in READABLE_SCHEMAS:
        raise BundleError(f"unknown bundle schema version {version!r} (this reader knows {READABLE_SCHEMAS})")
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise BundleError(f"{mpath} has been altered (its content does not match its own sha256)")
    if key is not None:
        tag = manifest.get("manifest_hmac")
        if not isinstance(tag, str):
            raise BundleError(f"{path} is not signed (no manifest_hmac) but a key was given")
        if not hmac.compare_digest(tag, _manifest_hmac(manifest, key)):
            raise BundleError(f"{path} is not signed with this key (forged or re-hashed, or another key)")
    _check_members(path, manifest["files"])
    check_bundle_content(path, manifest, BundleError)
    return Bundle(path, manifest)
