"""The export stage's public entry points: write a bundle, verify its C datapath, the profile
backends it adds."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from hbf_edge.errors import ConfigError

__all__ = ["export", "firmware", "profile_backends"]


def _family(model_dir: str | os.PathLike) -> str:
    from hbf_edge.modelfiles import read_model_dir

    return read_model_dir(model_dir)[0].family


def export(model_dir: str | os.PathLike, out: str | os.PathLike, **options: Any) -> Path:
    """Write the verified bundle of a model directory (``hbf-edge export``); ``channels=`` may
    be a plain ``.npy``/``.npz``/``.mat`` channel array, else ``count`` fresh ones are drawn."""
    from hbf_edge.export import REGISTRY
    from hbf_edge.families import CORE
    from hbf_edge.families._protocol import log_say

    family = _family(model_dir)
    stage = REGISTRY.get(family)
    cls = stage.export_settings
    try:
        s = cls(model_dir=model_dir, out=out, **options)
    except TypeError as exc:
        raise ConfigError(f"{exc}; export takes {[f.name for f in dataclasses.fields(cls)]}") from None
    from hbf_edge.export._core.bundle import read_key, sign_bundle

    key = read_key(s.sign) if s.sign is not None else None
    path = stage.export(s, CORE.get(family), say=log_say)
    if key is not None:
        sign_bundle(path, key)
    return path


def profile_backends(model_dir: str | os.PathLike) -> dict[str, Any]:
    """Backends this stage adds to :func:`hbf_edge.api.profile` for the directory's family."""
    from hbf_edge.export import REGISTRY

    return dict(REGISTRY.get(_family(model_dir)).profile_backends())


def firmware(bundle: str | os.PathLike, targets: list[str] | None = None, instructions: bool = False,
             say: Any = None) -> dict[str, Any]:
    """Build a bundle's C datapath for each target (``host``, ``sanitizers``, ``arm32`` under
    qemu-arm, ``cortex-m4``; default every installed one) and verify it on the bundle's test
    vectors (``hbf-edge firmware``, :func:`export._core.firmware.verify_firmware`)."""
    from hbf_edge.export import REGISTRY
    from hbf_edge.export._core.bundle import BundleError, read_bundle
    from hbf_edge.export._core.firmware import verify_firmware

    family = read_bundle(bundle).manifest.get("family", "upga")
    check = getattr(REGISTRY.get(family), "check_c", None)
    if check is None:
        raise BundleError(f"the {family} exporter emits no C datapath")
    return verify_firmware(bundle, check, targets, instructions, say or (lambda s: None))
