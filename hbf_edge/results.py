"""The common part of every result file (numpy only): evaluation, retention and profile.

Each family writes its own tables under its own keys; every result file also carries the same
envelope -- ``schema`` (``hbf-edge/<kind>/<version>``), ``family`` and ``model_dir`` -- and
the keys of its kind that generic readers rely on:

* ``evaluation`` (``results.json``): ``n_channels`` and ``metrics``, the family's metrics
  (``FamilySpec.metrics``) as ``{metric: {method: value or [value per SNR]}}`` with
  ``snr_db`` where they are per SNR;
* ``retention`` (``retention.json``): ``method`` (``qat`` | ``ptq``);
* ``profile`` (``profile.json``): ``measured`` ``{batch: {backend: {whole_us_per_channel}}}``
  and ``target``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SCHEMAS", "stamp", "check"]

SCHEMAS = {"evaluation": 1, "retention": 1, "profile": 1}
_REQUIRED = {"evaluation": ("n_channels", "metrics"), "retention": ("method",), "profile": ("measured", "target")}


def stamp(result: dict[str, Any], kind: str, family: str, model_dir: Any, **keys: Any) -> dict[str, Any]:
    """Add the envelope (and ``keys``) to ``result`` in place; returns it, checked."""
    result.update(schema=f"hbf-edge/{kind}/{SCHEMAS[kind]}", family=family, model_dir=str(model_dir), **keys)
    check(result)
    return result


def check(result: dict[str, Any]) -> str:
    """The kind of a result whose envelope and required keys are present (KeyError otherwise)."""
    kind, _, _ = str(result["schema"]).removeprefix("hbf-edge/").partition("/")
    for key in ("family", "model_dir") + _REQUIRED[kind]:
        if key not in result:
            raise KeyError(f"a {kind} result needs {key!r}")
    return kind
