"""Model directories on disk, numpy only: ``config.json`` + ``weights.safetensors``.

``config.json`` holds the format version, the family, the :class:`HardwareSpec`, the network
sizes, the training settings and history, the package version and the sha256 of the weights
file.  Weights are named float arrays in the safetensors format, readable without torch, so
``kernels/`` and the exporters load trained step sizes through :func:`read_model_dir` directly.
Writes are atomic; :func:`read_model_dir` refuses a directory whose files are missing,
unreadable or altered.  The torch side (building a network from a directory) is
:mod:`hbf_edge.modeldir`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge import __version__
from hbf_edge._io import atomic_dir, read_json, sha256_file
from hbf_edge.errors import HbfEdgeError, ModelDirError
from hbf_edge.hw.spec import HardwareSpec

__all__ = ["ModelConfig", "write_model_dir", "read_model_dir", "model_digest", "MODEL_FORMAT_VERSION"]

MODEL_FORMAT_VERSION = 2  # 1: the family's section under "sensing" / "deepfp" (read and upgraded)
READABLE_VERSIONS = (1, 2)
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
# what defines a model: the reports that other commands write beside them (eval/, profile/,
# retention.json, which names the directory's path) do not
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE)


def _core(family: str) -> Any:
    """The family's core stage (numpy-only at import), or ModelDirError naming the known ones."""
    from hbf_edge.families import CORE

    try:
        return CORE.get(family)
    except HbfEdgeError as exc:
        raise ModelDirError(f"unknown model family {family!r}; known: {', '.join(CORE.names())}") from exc


def _count(value: Any, key: str) -> int:
    """A layer count as written: an integer >= 1 (2.7, "2" or true are refused, not coerced)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelDirError(f"config.json: {key} must be an integer >= 1, got {value!r}")
    return value


def _typed(value: Any, kind: type, key: str, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, kind):
        raise ModelDirError(f"config.json: {key} must be a JSON {'object' if kind is dict else 'array'}"
                            f"{' or null' if optional else ''}, got {type(value).__name__}")
    return value


@dataclasses.dataclass
class ModelConfig:
    """Everything needed to rebuild a model, plus how it was trained.

    Attributes
    ----------
    family : str
        Network family: a name in the registry (``hbf_edge.families.CORE``).
    spec : HardwareSpec
        Sizes (N, M, K) and hardware precision (``phase_bits=None`` for a float model).
    n_layers, n_inner : int
        I and J.
    training : dict
        Training settings (seed, epochs, learning rate, SNR range, ...).
    history : list of dict
        Per-epoch training record (loss, learning rate).
    precision : dict or None
        The hardware precision of a quantized model, in one shape for every family that has
        phase shifters: ``hbf_edge.hw.precision.PrecisionConfig.to_dict()`` (``default`` and
        per-layer ``layers``; version 1's flat ``{phase_bits, precoder}`` is read as its
        ``default``).  None for a float model.
    quantization : dict or None
        How the model was quantized (method ``qat`` or ``ptq`` and its settings).
    family_config : dict or None
        The family's own section, checked by its core stage (``check_config``): UPGANet's radar
        scenario, eta and how Psi_1 was solved; DeepFP's network and DNN sizes (its spec is the
        fully digital ``N = M = N_t``); ``None`` for UPGA.
    """

    family: str
    spec: HardwareSpec
    n_layers: int
    n_inner: int
    training: dict = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)
    precision: dict | None = None
    quantization: dict | None = None
    family_config: dict | None = None

    @property
    def output_xi(self) -> float | None:
        """The output stage's regularisation factor of a quantized UPGA model (``None``: the
        model has no output stage; see ``kernels.upga._output.output_fx``)."""
        xi = (self.quantization or {}).get("output_xi")
        if xi is None:
            return None
        if isinstance(xi, bool) or not isinstance(xi, (int, float)) or not math.isfinite(xi) or xi < 0:
            raise ModelDirError(f"quantization.output_xi must be a finite number >= 0, got {xi!r}")
        return float(xi)

    @property
    def code_search(self) -> dict[str, int] | None:
        """The code search of a quantized UPGA model, ``{"sweeps": S, "span": D}`` (``None``: the
        model has none; see ``kernels.upga._search``).  It needs the output stage."""
        search = (self.quantization or {}).get("code_search")
        if search is None:
            return None
        ok = isinstance(search, dict) and set(search) == {"sweeps", "span"} and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 256 for v in search.values())
        if not ok:
            raise ModelDirError(f"quantization.code_search must be {{'sweeps': 1..256, 'span': 1..256}}, got {search!r}")
        if self.output_xi is None:
            raise ModelDirError("quantization.code_search needs the output stage (quantization.output_xi)")
        return dict(search)

    def expected_arrays(self) -> dict[str, tuple[int, ...]]:
        """Name -> shape of every array the family's network holds (its core stage says)."""
        return _core(self.family).expected_arrays(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": MODEL_FORMAT_VERSION,
            "package_version": __version__,
            "family": self.family,
            "hardware": self.spec.to_dict(),
            "network": {"n_layers": self.n_layers, "n_inner": self.n_inner},
            "training": self.training,
            "history": self.history,
            "precision": self.precision,
            "quantization": self.quantization,
            "family_config": self.family_config,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        try:
            version = data["format_version"]
            if version not in READABLE_VERSIONS:
                raise ModelDirError(f"unknown model format version {version!r} (this release reads "
                                    f"{', '.join(map(str, READABLE_VERSIONS))})")
            family = data["family"]
            core = _core(family)
            net = data["network"]
            # version 1 kept the family's section under its own key; version 2 under family_config
            section = data.get("family_config") if version >= 2 else (data.get("sensing") or data.get("deepfp"))
            precision = data.get("precision")
            if isinstance(precision, dict) and "default" not in precision:  # version 1's flat UPGANet form
                precision = {"default": precision, "layers": {}}
            config = cls(
                family=family,
                spec=HardwareSpec.from_dict(data["hardware"]),
                n_layers=_count(net["n_layers"], "network.n_layers"),
                n_inner=_count(net["n_inner"], "network.n_inner"),
                training=_typed(data.get("training", {}), dict, "training"),
                history=_typed(data.get("history", []), list, "history"),
                precision=_typed(precision, dict, "precision", optional=True),
                quantization=_typed(data.get("quantization"), dict, "quantization", optional=True),
                family_config=_typed(section, dict, "family_config", optional=True),
            )
            core.check_config(config)
            return config
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, HbfEdgeError):
                raise
            raise ModelDirError(f"config.json is incomplete or malformed: {exc!r}") from exc


def _check_arrays(config: ModelConfig, arrays: dict[str, np.ndarray], where: str) -> None:
    expected = config.expected_arrays()
    if set(arrays) != set(expected):
        raise ModelDirError(f"{where} holds arrays {sorted(arrays)}, the {config.family} network needs {sorted(expected)}")
    for name, shape in expected.items():
        if tuple(arrays[name].shape) != shape:
            raise ModelDirError(f"{where}: array {name!r} has shape {arrays[name].shape}, config says {shape}")
        if not np.all(np.isfinite(arrays[name])):
            raise ModelDirError(f"{where}: array {name!r} holds NaN or inf")


def write_model_dir(
    path: str | os.PathLike, config: ModelConfig, arrays: dict[str, np.ndarray], overwrite: bool = False
) -> Path:
    """Write a model directory atomically (a crash leaves no half-written directory)."""
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v, dtype=np.float64) for k, v in arrays.items()}
    _core(config.family).check_config(config)
    _check_arrays(config, arrays, "model")
    path = Path(path)
    try:
        with atomic_dir(path, overwrite=overwrite) as tmp:
            save_file(arrays, str(tmp / WEIGHTS_FILE))
            data = config.to_dict()
            data["weights"] = {"file": WEIGHTS_FILE, "sha256": sha256_file(tmp / WEIGHTS_FILE)}
            (tmp / CONFIG_FILE).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    except FileExistsError as exc:
        raise ModelDirError(f"{exc}") from exc
    return path


def read_model_dir(path: str | os.PathLike) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """Read and verify a model directory: its config and its float64 arrays.

    Raises
    ------
    ModelDirError
        Missing directory or files, malformed config, weights whose sha256 differs from the
        one recorded at save time, or arrays that do not fit the configured network.
    """
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_dir():
        raise ModelDirError(f"model directory {path} does not exist")
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise ModelDirError(f"{path} has no {CONFIG_FILE}: not a model directory")
    data = read_json(cfg_path, ModelDirError)
    if not isinstance(data, dict):
        raise ModelDirError(f"{cfg_path} must hold a JSON object")
    config = ModelConfig.from_dict(data)
    weights = data.get("weights")
    if not isinstance(weights, dict) or weights.get("file") != WEIGHTS_FILE or "sha256" not in weights:
        raise ModelDirError(f"{cfg_path} does not record the weights file and its sha256")
    w_path = path / WEIGHTS_FILE
    if not w_path.is_file():
        raise ModelDirError(f"{path} is missing {WEIGHTS_FILE}")
    if sha256_file(w_path) != weights["sha256"]:
        raise ModelDirError(f"{w_path} has been altered: its sha256 differs from the one in {CONFIG_FILE}")
    try:
        arrays = load_file(str(w_path))
    except Exception as exc:  # safetensors raises its own error type on corrupted files
        raise ModelDirError(f"cannot read {w_path}: {exc}") from exc
    _check_arrays(config, arrays, str(w_path))
    return config, arrays


def model_digest(path: str | os.PathLike) -> str:
    """sha256 over the sha256 of each of the model's files (:data:`MODEL_FILES`) present in
    ``path``: equal for two directories holding the same model wherever they are, whatever else
    they hold.  A sweep folder records it to refuse another model's results (the formula is
    theirs: changing it would refuse every sweep folder written before); the ONNX graph cache
    keys on it.  ``OSError`` if a file cannot be read."""
    h = hashlib.sha256()
    for name in MODEL_FILES:
        if (Path(path) / name).is_file():
            h.update(sha256_file(Path(path) / name).encode())
    return h.hexdigest()
