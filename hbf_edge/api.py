"""The core's public entry points: settings, channels, train, evaluate, load, profile.

Each takes the family (``"upga"``, ``"upganet"``, ``"deepfp"`` or a registered one) or a model
directory (whose ``config.json`` names it) and keyword options -- the fields of the family's
settings dataclass, defaults the paper's -- and returns the machine-readable result.  The other
stages have their own: :func:`hbf_edge.quant.quantize`, :func:`hbf_edge.export.export`,
:func:`hbf_edge.kernels.forward` / :func:`~hbf_edge.kernels.forward_hw` and
:func:`hbf_edge.firmware_sim.simulate`.  Messages go to the ``hbf_edge`` logger.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


from hbf_edge.errors import ConfigError

__all__ = ["families", "settings", "family_of", "make_channels", "train", "evaluate", "load", "profile"]

_KIND = {"channels": "channel_settings", "train": "train_settings", "evaluate": "eval_settings",
         "profile": "profile_settings"}


def families() -> list[str]:
    """The registered family names."""
    from hbf_edge.families import CORE

    return CORE.names()


def family_of(model_dir: str | os.PathLike) -> str:
    """The family of a model directory (read and verified)."""
    from hbf_edge.modelfiles import read_model_dir

    return read_model_dir(model_dir)[0].family


def settings(family: str, command: str, **options: Any) -> Any:
    """The settings dataclass of ``command`` (``channels``, ``train``, ``evaluate``,
    ``profile``) for ``family``, built from ``options`` (validated; unknown names refused)."""
    from hbf_edge.families import CORE

    if command not in _KIND:
        raise ConfigError(f"unknown command {command!r}; the core's are {sorted(_KIND)}")
    cls = getattr(CORE.get(family), _KIND[command])
    try:
        return cls(**options)
    except TypeError as exc:  # an unknown keyword: name the allowed ones
        import dataclasses

        raise ConfigError(f"{exc}; {family} {command} takes {[f.name for f in dataclasses.fields(cls)]}") from None


def make_channels(family: str, out: str | os.PathLike, **options: Any) -> Path:
    """Write a seeded channel dataset of the family's kind (``hbf-edge channels FAMILY``)."""
    from hbf_edge.families import CORE
    from hbf_edge.families._protocol import log_say

    return CORE.get(family).make_channels(settings(family, "channels", out=out, **options), say=log_say)


def train(family: str, out: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Train a float model into ``out`` (``hbf-edge train FAMILY``); ``channels=`` may be a
    dataset or a plain ``.npy``/``.npz``/``.mat`` array of the family's channel shape."""
    from hbf_edge.families import CORE
    from hbf_edge.families._protocol import log_say

    return CORE.get(family).train(settings(family, "train", out=out, quiet=options.pop("quiet", True), **options),
                                  say=log_say)


def evaluate(model_dir: str | os.PathLike, **options: Any) -> dict[str, Any]:
    """Evaluate a model directory against the family's baselines; writes results.json and plots
    (default ``MODEL_DIR/eval``).  A quantized directory is evaluated through the family's float
    network here; :func:`hbf_edge.quant.quantize` reports the quantized design's figures."""
    from hbf_edge.families import CORE
    from hbf_edge.families._protocol import log_say

    family = family_of(model_dir)
    s = settings(family, "evaluate", model_dir=model_dir, quiet=options.pop("quiet", True), **options)
    return CORE.get(family).evaluate(s, say=log_say)


def load(model_dir: str | os.PathLike) -> tuple[Any, Any]:
    """The float torch network and :class:`~hbf_edge.modelfiles.ModelConfig` of a directory
    (its quantized network: :func:`hbf_edge.quant.load`)."""
    from hbf_edge.families import CORE

    return CORE.get(family_of(model_dir)).load(Path(model_dir))


def profile(model_dir: str | os.PathLike, target: str | dict[str, Any] = "dsp", extra: dict[str, Any] | None = None,
            **options: Any) -> dict[str, Any]:
    """Per-layer latency per backend, op counts and a target estimate; writes profile.json and
    profile.png (default ``MODEL_DIR/profile``).  ``target``: an example name (``dsp``,
    ``mcu``), a ``.toml`` file or a parsed target; ``extra``: backends of other stages, e.g.
    ``hbf_edge.export.profile_backends(model_dir)`` for onnxruntime."""
    from hbf_edge.families import CORE
    from hbf_edge.families._protocol import log_say
    from hbf_edge.profiling import resolve_target

    if not isinstance(target, dict):
        target = resolve_target(target)
    family = family_of(model_dir)
    s = settings(family, "profile", model_dir=model_dir, quiet=options.pop("quiet", True), **options)
    return CORE.get(family).profile(s, target, dict(extra or {}), say=log_say)

