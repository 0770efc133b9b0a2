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
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge import __version__
from hbf_edge._io import atomic_dir, sha256_file
from hbf_edge.channels import validate_miso_channels
from hbf_edge.errors import HbfEdgeError
from hbf_edge.modelfiles import ModelConfig, read_model_dir
from hbf_edge.training import snr_db_to_power

from hbf_edge.export._core.cfiles import c_header, mem_files
from hbf_edge.export._core.tables import build_tables

__all__ = ["BundleError", "Bundle", "SCHEMA_VERSION", "write_bundle", "read_bundle"]

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


class BundleError(HbfEdgeError, ValueError):
    """A bundle is missing files, has been altered, or has an unknown schema version."""


def _manifest_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _beams(config: ModelConfig, arrays: dict[str, np.ndarray], H: np.ndarray, snr_db: float,
           noise: float) -> dict[str, np.ndarray]:
    from hbf_edge.families.upga.hardware import hardware_design

    B = H.shape[0]
    p_t = np.full(B, float(snr_db_to_power(snr_db, noise)))
    n = np.full(B, float(noise))
    res = hardware_design((config, arrays), H, p_t, n)
    return {
        "H": H.astype(np.complex128),
        "p_t": p_t,
        "noise": n,
        "codes": res.codes.astype(np.int32),
        "w_re": res.w_re.astype(np.int32),
        "w_im": res.w_im.astype(np.int32),
        "w_word_bits": np.array(res.w_format.word_bits),
        "w_frac_bits": np.array(res.w_format.frac_bits),
        "phase_bits": np.array(res.phase_bits),
        "overflows": res.total_overflows.astype(np.int64),
    }


def _float_onnx(config: ModelConfig, arrays: dict[str, np.ndarray], path: Path, phase_bits: int) -> None:
    import torch

    from hbf_edge.families.upga.model import UPGA

    from hbf_edge.export.upga.onnx_float import export_float_onnx

    model = UPGA(config.n_layers, config.n_inner, config.spec.n_rf)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    export_float_onnx(model, config, path, phase_bits=phase_bits)


def _quant_onnx(model_dir: str | os.PathLike, tmp: Path, beams: dict[str, np.ndarray]) -> dict[str, Any]:
    """Write both quantized graphs and check the onnxruntime one against the kernel's beams.

    The graphs stop before the code search (a data-dependent loop of evaluations, see
    ``kernels/upga/_search.py``): with a search, the kernel's search run on the graph's codes
    must give the beams."""
    from hbf_edge.quant import load_quantized

    from hbf_edge.export.upga.onnx_quant import export_quant_onnx, run_quant_onnx

    qmodel, config, _ = load_quantized(model_dir)
    for kind in ("qcdq", "qonnx"):
        export_quant_onnx(qmodel, config, tmp / f"model.{kind}.onnx", kind)
    codes, w_re, w_im = run_quant_onnx(tmp / "model.qcdq.onnx", beams["H"], beams["p_t"], beams["noise"])
    if config.code_search is not None:
        codes, w_re, w_im = _searched(config, qmodel, beams, codes, w_re, w_im)
    bad = {"codes": int(np.count_nonzero(codes != beams["codes"])),
           "W words": int(np.count_nonzero((w_re != beams["w_re"]) | (w_im != beams["w_im"])))}
    if any(bad.values()):
        raise BundleError(f"model.qcdq.onnx disagrees with the hardware kernel on the beam channels: "
                          f"{bad['codes']} codes and {bad['W words']} W words differ")
    return {"model.qcdq.onnx": {"runtime": "onnxruntime", "channels": int(codes.shape[0]),
                                "equals": "beams.npz codes and W words (hardware kernel)"
                                + (", after the kernel's code search" if config.code_search is not None else "")}}


def _searched(config: ModelConfig, qmodel: Any, beams: dict[str, np.ndarray], codes: np.ndarray, w_re: np.ndarray,
              w_im: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's code search and output stage run on the graph's codes."""
    from hbf_edge.kernels.upga.hardware import COUNTER_SITES, model_search, prepare_hw_inputs, run_search

    H = beams["H"]
    x = prepare_hw_inputs(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), beams["p_t"], beams["noise"],
                          qmodel.mu.detach().numpy(), qmodel.lam.detach().numpy(), qmodel.layer_specs[0],
                          qmodel.layer_specs, xi=config.output_xi)
    codes = np.ascontiguousarray(codes, np.int64)
    w_re, w_im = np.ascontiguousarray(w_re, np.int64), np.ascontiguousarray(w_im, np.int64)
    run_search(x, model_search(config), codes, w_re, w_im, np.zeros((H.shape[0], len(COUNTER_SITES) - 1), np.int64))
    return codes, w_re, w_im


def write_bundle(model_dir: str | os.PathLike, out: str | os.PathLike, H: np.ndarray, snr_db: float = 10.0,
                 noise: float = 1.0, overwrite: bool = False) -> Path:
    """Export a quantized model directory (family ``upga`` or ``upganet``) as a verified bundle.

    Parameters
    ----------
    H : ndarray of complex, [B, N, K]
        Channels for ``beams.npz`` (the hardware kernel's designs at ``snr_db``).
    """
    from hbf_edge.hw.precision import PrecisionConfig

    config, arrays = read_model_dir(model_dir)
    if config.family not in ("upga", "upganet"):
        raise BundleError(f"{model_dir} holds a {config.family} model; the bundle exporter supports upga and upganet")
    if config.precision is None:
        raise BundleError(f"{model_dir} is a float model: export needs a quantized one (`hbf-edge quantize`)")
    H = validate_miso_channels(H, config.spec.n_antennas, config.spec.n_users, name="beam channels")
    if config.family == "upganet":
        from hbf_edge.export.upganet.bundle import upganet_parts

        texts, beams, writers, layer0 = upganet_parts(model_dir, config, arrays, H, snr_db, noise)
    else:
        layer_specs = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()
        tables = build_tables(config, layer_specs, arrays)
        texts = {"lut.json": json.dumps(tables, indent=1) + "\n", "lut.h": c_header(tables), **mem_files(tables)}
        beams = _beams(config, arrays, H, snr_db, noise)
        writers = [lambda tmp: _float_onnx(config, arrays, tmp / "model.onnx", layer_specs[-1].phase_bits),
                   lambda tmp: _quant_onnx(model_dir, tmp, beams)]
        layer0 = layer_specs[0]
    extra = {"hardware": layer0.to_dict(), "precision": config.precision,
             "model": {k: v for k, v in config.to_dict().items() if k != "history"},
             "beams": {"snr_db": snr_db, "noise_power": noise, "n_channels": int(H.shape[0])}}
    return _write(out, overwrite, texts, beams, writers, extra)


def _write(out: str | os.PathLike, overwrite: bool, texts: dict[str, str], beams: dict[str, np.ndarray],
           writers: list, extra: dict[str, Any]) -> Path:
    """Write the files into a temporary directory (``writers`` add the ONNX graphs and return
    what they verified), then the manifest, then rename into place."""
    try:
        with atomic_dir(out, overwrite=overwrite) as tmp:
            for name, text in texts.items():
                (tmp / name).write_text(text)
            with open(tmp / "beams.npz", "wb") as fh:
                np.savez(fh, **beams)
            verified: dict[str, Any] = {}
            for writer in writers:
                verified.update(writer(tmp) or {})
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
        return json.loads((self.path / "lut.json").read_text())

    def beams(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "beams.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def text(self, name: str) -> str:
        return (self.path / name).read_text()


def read_bundle(path: str | os.PathLike) -> Bundle:
    """Open a bundle after checking its schema version and every file's sha256 and size."""
    path = Path(path)
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{path} has no {MANIFEST}: not a bundle")
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{mpath} is corrupted: {exc}") from exc
    if not isinstance(manifest, dict) or "files" not in manifest:
        raise BundleError(f"{mpath} is not a bundle manifest")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(f"unknown bundle schema version {version!r} (this reader knows {SCHEMA_VERSION})")
    if manifest.get("manifest_sha256") != _manifest_digest(manifest):
        raise BundleError(f"{mpath} has been altered (its content does not match its own sha256)")
    for name, meta in manifest["files"].items():
        fpath = path / name
        if not fpath.is_file():
            raise BundleError(f"bundle file {name} is missing")
        if fpath.stat().st_size != meta["bytes"] or sha256_file(fpath) != meta["sha256"]:
            raise BundleError(f"bundle file {name} has been altered (sha256 differs from the manifest)")
    return Bundle(path, manifest)
