"""Torch side of model directories: save a network, load it back exactly.

The files and their verification live in :mod:`hbf_edge.modelfiles` (numpy only); this module
turns a network's parameters (and, for UPGANet, its benchmark covariance buffer) into those
arrays and back.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from hbf_edge.errors import ConfigError
from hbf_edge.modelfiles import ModelConfig, read_model_dir, write_model_dir

__all__ = ["ModelConfig", "save_model", "load_model", "build_model"]


def build_model(config: ModelConfig) -> torch.nn.Module:
    """A freshly initialised network of this configuration, built by its family's core stage
    (UPGANet with a zero Psi_1, which :func:`load_model` overwrites)."""
    from hbf_edge.families import CORE

    return CORE.get(config.family).build(config)


def save_model(model: torch.nn.Module, config: ModelConfig, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``model``'s parameters and ``config`` as a model directory (atomic); arrays whose
    shapes differ from the config's are refused (:func:`write_model_dir`)."""
    arrays = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    return write_model_dir(path, config, arrays, overwrite=overwrite)


def load_model(path: str | os.PathLike, family: str | None = None) -> tuple[torch.nn.Module, ModelConfig]:
    """Restore a model directory exactly (files verified by :func:`read_model_dir`).

    Parameters
    ----------
    family : str, optional
        Refuse (:class:`ConfigError`) a directory whose family does not run on this family's
        datapath (:func:`hbf_edge.families.runs_on`), for the stages that support only one.
    """
    from hbf_edge.families import runs_on

    config, arrays = read_model_dir(path)
    if family is not None and not runs_on(config.family, family):
        raise ConfigError(f"{path} holds a {config.family} model; this stage supports {family} models only")
    model = build_model(config)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in arrays.items()})
    return model, config
