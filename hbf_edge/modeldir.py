"""Torch side of model directories: save a network, load it back exactly.

The files and their verification live in :mod:`hbf_edge.modelfiles` (numpy only); this module
turns a network's parameters (and, for UPGANet, its benchmark covariance buffer) into those
arrays and back.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from hbf_edge.errors import ConfigError, ModelDirError
from hbf_edge.modelfiles import ModelConfig, read_model_dir, write_model_dir
from hbf_edge.families.upga.model import UPGA

__all__ = ["ModelConfig", "save_model", "load_model", "build_model"]


def build_model(config: ModelConfig) -> torch.nn.Module:
    """A freshly initialised network of this configuration (UPGANet with a zero Psi_1, which
    :func:`load_model` overwrites)."""
    if config.family == "deepfp":
        from hbf_edge.families.deepfp.model import DeepFP

        c = config.deepfp
        return DeepFP(config.n_layers, c["n_tx"], c["n_streams"], c["hidden"], c["n_hidden"],
                      step_base=c.get("step_base", "frobenius"))
    if config.family == "upganet":
        from hbf_edge.families.upganet.model import UPGANet
        from hbf_edge.families.upganet.sensing import SensingScenario

        n = config.spec.n_antennas
        try:
            scenario, eta = SensingScenario.from_dict(config.sensing["scenario"]), float(config.sensing["eta"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelDirError(f"config.json has a malformed sensing section: {exc!r}") from exc
        return UPGANet(config.n_layers, config.n_inner, config.spec.n_rf, np.zeros((n, n), complex), scenario, eta=eta)
    return UPGA(config.n_layers, config.n_inner, config.spec.n_rf)


def save_model(model: torch.nn.Module, config: ModelConfig, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``model``'s parameters and ``config`` as a model directory (atomic)."""
    if config.family == "deepfp":
        c = config.deepfp
        if (model.n_layers, model.n_tx, model.n_streams) != (config.n_layers, c["n_tx"], c["n_streams"]):
            raise ConfigError("model sizes do not match its config")
    elif (model.n_layers, model.n_inner, model.n_rf) != (config.n_layers, config.n_inner, config.spec.n_rf):
        raise ConfigError("model sizes do not match its config")
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return write_model_dir(path, config, arrays, overwrite=overwrite)


def load_model(path: str | os.PathLike, family: str | None = None) -> tuple[torch.nn.Module, ModelConfig]:
    """Restore a model directory exactly (files verified by :func:`read_model_dir`).

    Parameters
    ----------
    family : str, optional
        Refuse (:class:`ConfigError`) a directory of another family, for the stages that
        support only one.
    """
    config, arrays = read_model_dir(path)
    if family is not None and config.family != family:
        raise ConfigError(f"{path} holds a {config.family} model; this stage supports {family} models only")
    model = build_model(config)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return model, config
