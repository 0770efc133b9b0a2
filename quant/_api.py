"""The quant stage's public entry points: quantize a model directory, load its torch network."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from hbf_edge.errors import ConfigError

__all__ = ["quantize", "load"]


def _stage(model_dir: str | os.PathLike) -> Any:
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.quant import REGISTRY

    return REGISTRY.get(read_model_dir(model_dir)[0].family)


def quantize(model_dir: str | os.PathLike, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Quantize a float model directory into ``out`` (``hbf-edge quantize``): QAT by default
    (``method="ptq"`` keeps the float parameters); options are the fields of the family's
    quant settings (e.g. UPGA: ``phase_bits``, ``precoder_bits``, ``precision`` a TOML file).
    Returns the retention record also written to ``out/retention.json``."""
    from hbf_edge.families._protocol import log_say

    stage = _stage(model_dir)
    cls = stage.quant_settings
    try:
        s = cls(model_dir=model_dir, out=out, quiet=options.pop("quiet", True), **options)
    except TypeError as exc:
        raise ConfigError(f"{exc}; quantize takes {[f.name for f in dataclasses.fields(cls)]}") from None
    return stage.quantize(s, say=log_say)


def load(model_dir: str | os.PathLike) -> tuple[Any, Any]:
    """The torch network of a directory -- the quantized one (QAT/PTQ) if it is quantized --
    and its :class:`~hbf_edge.modelfiles.ModelConfig`."""
    return _stage(model_dir).load(Path(model_dir))
