"""Model directories: ``config.json`` + ``weights.pt``, written atomically, verified on load.

``config.json`` holds the format version, the family, the :class:`HardwareSpec`, the network
sizes, the training settings and history, the package version and the sha256 of the weights
file; :func:`load_model` refuses a directory whose files are missing, unreadable or altered.
Weights are a plain ``state_dict`` saved with ``torch.save`` and read with
``weights_only=True`` (no pickle code runs on load).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from . import __version__
from ._io import atomic_dir, sha256_file
from .errors import ConfigError, HbfEdgeError, ModelDirError
from .spec import HardwareSpec
from .upga import UPGA

__all__ = ["ModelConfig", "save_model", "load_model", "MODEL_FORMAT_VERSION"]

MODEL_FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"
FAMILIES = ("upga",)


@dataclasses.dataclass
class ModelConfig:
    """Everything needed to rebuild a model, plus how it was trained.

    Attributes
    ----------
    family : str
        Network family (``"upga"``).
    spec : HardwareSpec
        Sizes (N, M, K) and hardware precision (``phase_bits=None`` for a float model).
    n_layers, n_inner : int
        I and J.
    training : dict
        Training settings (seed, epochs, learning rate, SNR range, ...).
    history : list of dict
        Per-epoch training record (loss, learning rate).
    """

    family: str
    spec: HardwareSpec
    n_layers: int
    n_inner: int
    training: dict = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": MODEL_FORMAT_VERSION,
            "package_version": __version__,
            "family": self.family,
            "hardware": self.spec.to_dict(),
            "network": {"n_layers": self.n_layers, "n_inner": self.n_inner},
            "training": self.training,
            "history": self.history,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        try:
            version = data["format_version"]
            if version != MODEL_FORMAT_VERSION:
                raise ModelDirError(f"unknown model format version {version!r} (this is {MODEL_FORMAT_VERSION})")
            family = data["family"]
            if family not in FAMILIES:
                raise ModelDirError(f"unknown model family {family!r}; known: {FAMILIES}")
            net = data["network"]
            return cls(
                family=family,
                spec=HardwareSpec.from_dict(data["hardware"]),
                n_layers=int(net["n_layers"]),
                n_inner=int(net["n_inner"]),
                training=dict(data.get("training", {})),
                history=list(data.get("history", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, HbfEdgeError):
                raise
            raise ModelDirError(f"config.json is incomplete or malformed: {exc!r}") from exc

    def build(self) -> UPGA:
        """A freshly initialised network of this configuration."""
        return UPGA(self.n_layers, self.n_inner, self.spec.n_rf)


def save_model(model: UPGA, config: ModelConfig, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write a model directory atomically (a crash leaves no half-written directory)."""
    if (model.n_layers, model.n_inner, model.n_rf) != (config.n_layers, config.n_inner, config.spec.n_rf):
        raise ConfigError("model sizes do not match its config")
    path = Path(path)
    try:
        with atomic_dir(path, overwrite=overwrite) as tmp:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            torch.save(state, tmp / WEIGHTS_FILE)
            data = config.to_dict()
            data["weights"] = {"file": WEIGHTS_FILE, "sha256": sha256_file(tmp / WEIGHTS_FILE)}
            (tmp / CONFIG_FILE).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    except FileExistsError as exc:
        raise ModelDirError(f"{exc}") from exc
    return path


def load_model(path: str | os.PathLike) -> tuple[UPGA, ModelConfig]:
    """Restore a model directory exactly; verify its files first.

    Raises
    ------
    ModelDirError
        Missing directory or files, malformed config, weights whose sha256 differs from the
        one recorded at save time, or weights that do not fit the configured sizes.
    """
    path = Path(path)
    if not path.is_dir():
        raise ModelDirError(f"model directory {path} does not exist")
    cfg_path = path / CONFIG_FILE
    if not cfg_path.is_file():
        raise ModelDirError(f"{path} has no {CONFIG_FILE}: not a model directory")
    try:
        data = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{cfg_path} is not valid JSON: {exc}") from exc
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
        state = torch.load(w_path, weights_only=True, map_location="cpu")
    except Exception as exc:  # torch raises several types on corrupted archives
        raise ModelDirError(f"cannot read {w_path}: {exc}") from exc
    model = config.build()
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ModelDirError(f"{w_path} does not fit the configured network: {exc}") from exc
    return model, config
