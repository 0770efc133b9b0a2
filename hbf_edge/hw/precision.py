"""Per-layer precision, hls4ml style: a model-wide default plus per-layer overrides.

A config names, for the whole model, the phase bits and any of the datapath's named formats
(``channel``, ``lut``, ``accumulator``, ``gradient``, ``step``, ``precoder``: the tuple
:data:`hbf_edge.hw.spec.FORMATS`), and may override the phase bits and the digital-precoder
format for ranges of layers::

    # precision.toml (`hbf-edge precision template MODEL_DIR` writes the full default file)
    [default]
    phase_bits = 3
    precoder = { word_bits = 12, frac_bits = 10 }
    accumulator = { word_bits = 32, frac_bits = 16, rounding = "half_up", saturate = true }

    [layers."0-2"]          # layers 0, 1 and 2 (0-based, inclusive)
    phase_bits = 6

    [layers."9"]
    precoder = { word_bits = 16, frac_bits = 14, rounding = "half_even" }

Formats not named in ``[default]`` come from the model's :class:`~hbf_edge.hw.spec.HardwareSpec`;
the formats other than ``precoder`` are model-wide (the hardware kernel shares them between
layers), so ``[layers]`` may not set them.  :meth:`PrecisionConfig.layer_specs` gives one
spec per layer; the QAT model, the hardware kernel and the exporter all read those.  The
initialisation runs at layer 0's precision; the output F has the last layer's phase bits.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from hbf_edge.errors import ConfigError
from hbf_edge.hw.spec import FORMATS, FixedPointFormat, HardwareSpec

__all__ = ["PrecisionConfig", "LAYER_KEYS", "DEFAULT_KEYS", "template_toml", "read_precision_file", "shared_formats",
           "shared_formats_toml", "shared_formats_text"]

LAYER_KEYS = ("phase_bits", "precoder")
DEFAULT_KEYS = ("phase_bits",) + FORMATS


def _settings(data: Any, where: str, allowed: tuple[str, ...] = LAYER_KEYS) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table/object, got {type(data).__name__}")
    unknown = set(data) - set(allowed)
    if unknown:
        hint = " (formats other than precoder are model-wide: set them in [default])" if (
            unknown & set(FORMATS)) else ""
        raise ConfigError(f"unknown key(s) {sorted(unknown)} in {where}; allowed: {list(allowed)}{hint}")
    out: dict[str, Any] = {}
    for key, value in data.items():
        out[key] = value if key == "phase_bits" else FixedPointFormat.from_dict(value)
    return out


def _layer_range(name: str, n_layers: int) -> range:
    try:
        lo, _, hi = name.partition("-")
        first, last = int(lo), int(hi) if hi else int(lo)
    except ValueError:
        raise ConfigError(f"unknown layer name {name!r}: use 'i' or 'i-j' (0-based)") from None
    if not 0 <= first <= last < n_layers:
        raise ConfigError(f"layer range {name!r} is outside the model's layers 0..{n_layers - 1}")
    return range(first, last + 1)


@dataclasses.dataclass(frozen=True)
class PrecisionConfig:
    """The default precision and per-layer overrides of an I-layer model.

    Attributes
    ----------
    base : HardwareSpec
        The model-wide spec with the default phase bits and precoder format applied.
    overrides : dict of str -> dict
        Layer name (``"i"`` or ``"i-j"``) -> settings (``phase_bits``, ``precoder``).
    n_layers : int
    """

    base: HardwareSpec
    overrides: dict
    n_layers: int

    def layer_specs(self) -> list[HardwareSpec]:
        """One validated spec per layer."""
        specs = [self.base] * self.n_layers
        seen: dict[int, str] = {}
        for name, settings in self.overrides.items():
            for i in _layer_range(name, self.n_layers):
                if i in seen:
                    raise ConfigError(f"layer {i} is set twice (by {seen[i]!r} and {name!r})")
                seen[i] = name
                specs[i] = self.base.replace(**settings)
        return specs

    @property
    def uniform(self) -> bool:
        return not self.overrides

    @classmethod
    def from_dict(cls, data: Any, spec: HardwareSpec, n_layers: int) -> "PrecisionConfig":
        if not isinstance(data, dict):
            raise ConfigError("a precision config must be a table/object with 'default' and 'layers'")
        unknown = set(data) - {"default", "layers"}
        if unknown:
            raise ConfigError(f"unknown section(s) {sorted(unknown)} in the precision config")
        base = spec.replace(**_settings(data.get("default", {}), "[default]", DEFAULT_KEYS))
        if base.phase_bits is None:
            raise ConfigError("the precision config needs phase_bits (the model's spec has none)")
        layers = data.get("layers", {})
        if not isinstance(layers, dict):
            raise ConfigError("[layers] must be a table of layer name -> settings")
        overrides = {str(name): _settings(v, f"[layers.{name!r}]") for name, v in layers.items()}
        config = cls(base, overrides, n_layers)
        config.layer_specs()  # validates names, ranges, overlaps and values
        return config

    @classmethod
    def uniform_config(cls, spec: HardwareSpec, n_layers: int, phase_bits: int,
                       precoder: FixedPointFormat | None = None) -> "PrecisionConfig":
        """The same precision in every layer (``--phase-bits Q --precoder-bits B``)."""
        settings: dict[str, Any] = {"phase_bits": phase_bits}
        if precoder is not None:
            settings["precoder"] = precoder.to_dict()
        return cls.from_dict({"default": settings}, spec, n_layers)

    @classmethod
    def from_bits(cls, spec: HardwareSpec, n_layers: int, phase_bits: int, precoder: FixedPointFormat | None = None,
                  internal_phase_bits: int | None = None) -> "PrecisionConfig":
        """Q phase bits and the precoder format in every layer (``-Q/-B``), or, with
        ``internal_phase_bits``, that many in layers 0..I-2: their codes are the datapath's
        internal iterates, only the last layer's drive the phase shifters."""
        config = cls.uniform_config(spec, n_layers, phase_bits, precoder)
        if internal_phase_bits is None or n_layers < 2:
            return config
        layers = {f"0-{n_layers - 2}": {"phase_bits": internal_phase_bits}}
        return cls.from_dict({**config.to_dict(), "layers": layers}, spec, n_layers)

    @classmethod
    def load(cls, path: str | os.PathLike, spec: HardwareSpec, n_layers: int) -> "PrecisionConfig":
        """Read a ``.toml`` or ``.json`` precision config."""
        return cls.from_dict(read_precision_file(path), spec, n_layers)

    def to_dict(self) -> dict[str, Any]:
        """The config as stored in a model directory (``config.json`` key ``precision``)."""
        default = {"phase_bits": self.base.phase_bits, **{f: getattr(self.base, f).to_dict() for f in FORMATS}}
        layers = {}
        for name, settings in self.overrides.items():
            layers[name] = {k: (v.to_dict() if isinstance(v, FixedPointFormat) else v) for k, v in settings.items()}
        return {"default": default, "layers": layers}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    return str(value)


def template_toml(config: PrecisionConfig, title: str) -> str:
    """The full precision file of ``config``: every setting of ``[default]`` written out, the
    per-layer overrides it has, and a commented example -- a starting point to edit."""
    lines = [f"# {title}", _FORMAT_HELP, "[default]", *_table_lines(config.to_dict()["default"])]
    for name, settings in config.to_dict()["layers"].items():
        lines += ["", f'[layers."{name}"]', *_table_lines(settings)]
    lines += ["", f"# per-layer overrides (0-based, inclusive ranges) may set {' and '.join(LAYER_KEYS)}:",
              f'# [layers."0-{max(config.n_layers - 2, 0)}"]', "# phase_bits = 6"]
    return "\n".join(lines) + "\n"


_FORMAT_HELP = ("# Every format: word_bits (2..32), frac_bits (0..word_bits-1), rounding (half_up | half_even | "
                "floor), saturate (true: clamp, false: wrap).")


def _table_lines(settings: dict[str, Any]) -> list[str]:
    out = []
    for key, value in settings.items():
        if isinstance(value, dict):
            value = "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
        out.append(f"{key} = {value}")
    return out


def read_precision_file(path: str | os.PathLike) -> dict[str, Any]:
    """The contents of a ``.toml`` or ``.json`` precision file (one-line errors)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"precision config {path} does not exist")
    try:
        if path.suffix == ".toml":
            return tomllib.loads(path.read_text())
        if path.suffix == ".json":
            return json.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse {path}: {exc}") from exc
    raise ConfigError(f"precision config must be .toml or .json, got {path.name}")


def shared_formats(path: str | os.PathLike, names: tuple[str, ...]) -> dict[str, FixedPointFormat]:
    """The formats a precision file's ``[default]`` table names, for a datapath whose formats
    are shared by every layer (JCEHB's, MSER's): only ``names`` are allowed, no ``[layers]``,
    and no ``phase_bits`` (``quantize -Q`` sets those)."""
    data = read_precision_file(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{Path(path).name}: a precision file is a table with a [default] table of formats, got "
                          f"{type(data).__name__}")
    if set(data) - {"default"}:
        raise ConfigError(f"{Path(path).name}: this datapath shares its formats between layers, so the file has "
                          f"a [default] table only (found {sorted(set(data) - {'default'})})")
    table = data.get("default", {})
    if isinstance(table, dict) and "phase_bits" in table:
        raise ConfigError(f"{Path(path).name}: set the phase bits with `quantize -Q`, not in this datapath's "
                          "precision file")
    return _settings(table, "[default]", names)


def shared_formats_toml(config: Any, model_dir: Path, phase_bits: int | None, formats_cls: type,
                        names: tuple[str, ...]) -> str:
    """``hbf-edge precision template`` of a datapath with shared formats (:func:`shared_formats`):
    every format of ``formats_cls`` in ``names``, the quantized directory's own (its
    ``quantization.formats``) or the defaults.  The file holds no phase bits, so
    ``phase_bits`` is refused."""
    if phase_bits is not None:
        raise ConfigError(f"{config.family} precision files hold the datapath's formats only: give the phase bits "
                          "to `hbf-edge quantize -Q`")
    q = config.quantization
    formats = formats_cls.from_dict(q["formats"]) if q and "formats" in q else formats_cls()
    return shared_formats_text(f"datapath formats of {model_dir} ({config.family}, "
                               f"{'quantized' if q else 'the defaults'})", formats, names)


def shared_formats_text(title: str, formats: Any, names: tuple[str, ...]) -> str:
    """The precision file (:func:`shared_formats`) holding the formats ``names`` of ``formats``."""
    lines = [f"# {title}", _FORMAT_HELP, "# shared by every layer; the phase bits: `hbf-edge quantize -Q`",
             "[default]", *_table_lines({n: getattr(formats, n).to_dict() for n in names})]
    return "\n".join(lines) + "\n"
