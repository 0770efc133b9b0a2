"""The sweep specification: a TOML file read into a :class:`SweepSpec`, checked before any work.

::

    models = ["runs/upga"]                  # model directories (the family is read from each)
    stages = ["float", "ptq_refit", "hardware"]
    snr_db = [0, 10, 20]
    phase_bits = [1, 2, 3, 4]               # Q of the quantized stages (a grid with word_bits)
    word_bits = [8, 12, 16]                 # W: the digital word (UPGA: the precoder, W-2 fraction bits)
    precision = ["mixed.toml"]              # per-layer precision files: one more point each
    channels = 100000                       # channels per point, at most
    chunk = 1000                            # channels per task
    seed = 2026                             # or a list: every point at each seed

    [stop]                                  # per point, after each chunk in order
    ci = 0.002                              # relative half-width of the 95 % interval of the mean
    errors = 100                            # error events seen (error-rate metrics)

    [qat]                                   # options of `hbf-edge quantize` for the stage "qat"
    epochs = 5

    [[points]]                              # explicit points, beside or instead of the grid
    model = "runs/upga"
    stage = "hardware"
    snr_db = 15
    phase_bits = 3
    word_bits = 10

Relative paths are read from the spec file's folder.  The ``float`` stage takes no Q or W: it
is one point per model and SNR.  Chunk ``c`` of every point of a model and SNR draws the same
channels (:func:`chunk_seed`), so every point of a model is compared on the same channels.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.errors import ConfigError

__all__ = ["SweepSpec", "StopRule", "read_spec", "chunk_seed", "FLOAT_STAGE"]

FLOAT_STAGE = "float"
_TOP = {"models", "stages", "snr_db", "phase_bits", "word_bits", "precision", "channels", "chunk", "seed", "stop",
        "qat", "points"}
_POINT = {"model", "stage", "snr_db", "phase_bits", "word_bits", "precision"}
_STOP = {"ci", "errors", "min_channels"}
MAX_CHANNELS = 10 ** 9


def chunk_seed(seed: int, chunk: int) -> int:
    """The channel seed of chunk ``chunk``: chunk 0 draws with ``seed`` itself (the channels
    ``hbf-edge evaluate --seed S --count CHUNK`` draws, so a sweep reproduces the figures of
    the other commands), every later chunk with an independent stream of ``seed``
    (``SeedSequence(seed, spawn_key=(chunk,))``, as a 63-bit integer every family's generator
    takes)."""
    if chunk == 0:
        return int(seed)
    state = np.random.SeedSequence(int(seed), spawn_key=(int(chunk),)).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1]))


@dataclasses.dataclass(frozen=True)
class StopRule:
    """When a point has seen enough channels (Sionna's ``sim_ber`` style): the relative 95 %
    half-width of its mean below ``ci``, or ``errors`` error events seen; never before
    ``min_channels`` channels; 0 switches a rule off.  Without a rule every point runs all
    ``channels``."""

    ci: float = 0.0
    errors: int = 0
    min_channels: int = 0


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: the points (dicts with ``key``, ``model`` index, ``stage``, ``snr_db``,
    ``phase_bits``, ``word_bits``, ``precision``), the models, and how much to run."""

    models: tuple[str, ...]
    points: tuple[dict[str, Any], ...]
    channels: int
    chunk: int
    seed: int | tuple[int, ...]
    stop: StopRule
    qat: dict[str, Any]

    @property
    def n_chunks(self) -> int:
        return -(-self.channels // self.chunk)

    def chunk_size(self, c: int) -> int:
        return min(self.chunk, self.channels - c * self.chunk)

    def groups(self) -> list[tuple[int, float, int]]:
        """(model index, SNR, seed) of every group of points, in order: a group's points share
        channels and the float reference."""
        return sorted({(p["model"], p["snr_db"], p["seed"]) for p in self.points})

    def to_dict(self) -> dict[str, Any]:
        seed = list(self.seed) if isinstance(self.seed, tuple) else self.seed
        return {"models": list(self.models), "points": [dict(p) for p in self.points], "channels": self.channels,
                "chunk": self.chunk, "seed": seed, "stop": dataclasses.asdict(self.stop), "qat": dict(self.qat)}


def _int_list(data: dict[str, Any], key: str, lo: int, hi: int, default: list[int]) -> list[int]:
    value = data.get(key, default)
    value = value if isinstance(value, list) else [value]
    if not value or any(isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi for v in value):
        raise ConfigError(f"sweep spec: {key} must be a list of integers in {lo}..{hi}, got {data.get(key)!r}")
    return sorted(set(value))


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ConfigError(f"sweep spec: {key} must be a finite number, got {value!r}")
    return float(value)


def _path(value: Any, key: str, base: Path, must_be: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"sweep spec: {key} must be a path, got {value!r}")
    path = (base / value).resolve()
    if must_be == "dir" and not (path / "config.json").is_file():
        raise ConfigError(f"sweep spec: {key} {value!r} is not a model directory ({path}/config.json is missing)")
    if must_be == "file" and not path.is_file():
        raise ConfigError(f"sweep spec: {key} {value!r} does not exist ({path})")
    return str(path)


def _point(model: int, stage: str, snr: float, q: int | None, w: int | None, precision: str | None,
           seed: int, tag_seed: bool) -> dict[str, Any]:
    if stage == FLOAT_STAGE:
        q = w = precision = None
    where = "" if stage == FLOAT_STAGE else (f"/P{Path(precision).stem}" if precision else f"/Q{q}/W{w}")
    return {"key": f"m{model}/{stage}/{snr:g}dB{where}" + (f"/s{seed}" if tag_seed else ""), "model": model,
            "stage": stage, "snr_db": snr, "phase_bits": q, "word_bits": w, "precision": precision, "seed": seed}


def _grid(data: dict[str, Any], models: list[str], base: Path, seeds: list[int]) -> list[dict[str, Any]]:
    stages = data.get("stages", [FLOAT_STAGE])
    if not isinstance(stages, list) or not stages or not all(isinstance(s, str) for s in stages):
        raise ConfigError(f"sweep spec: stages must be a list of names, got {stages!r}")
    snrs = data.get("snr_db", [10.0])
    snrs = [_number(s, "snr_db") for s in (snrs if isinstance(snrs, list) else [snrs])]
    qs = _int_list(data, "phase_bits", 1, 16, [4])
    ws = _int_list(data, "word_bits", 3, 32, [12])
    if not isinstance(data.get("precision", []), list):
        raise ConfigError(f"sweep spec: precision must be a list of precision files, got {data['precision']!r}")
    files = [_path(p, "precision", base, "file") for p in data.get("precision", [])]
    precisions = [(q, w, None) for q in qs for w in ws] if "precision" not in data or "phase_bits" in data else []
    precisions += [(None, None, f) for f in files]
    return [_point(m, stage, snr, q, w, f, seed, len(seeds) > 1) for m in range(len(models)) for stage in stages
            for snr in snrs for (q, w, f) in (precisions if stage != FLOAT_STAGE else [(None, None, None)])
            for seed in seeds]


def _listed(data: dict[str, Any], models: list[str], base: Path, seeds: list[int]) -> list[dict[str, Any]]:
    points = []
    if not isinstance(data.get("points", []), list):
        raise ConfigError("sweep spec: points must be an array of tables ([[points]])")
    for i, entry in enumerate(data.get("points", [])):
        where = f"points[{i}]"
        if not isinstance(entry, dict) or set(entry) - _POINT or not {"model", "stage"} <= set(entry):
            raise ConfigError(f"sweep spec: {where} needs model and stage, and takes only {', '.join(sorted(_POINT))}")
        model = _path(entry["model"], f"{where}.model", base, "dir")
        if model not in models:
            models.append(model)
        precision = _path(entry["precision"], f"{where}.precision", base, "file") if "precision" in entry else None
        q = _int_list(entry, "phase_bits", 1, 16, [4])[0]
        w = _int_list(entry, "word_bits", 3, 32, [12])[0]
        snr = _number(entry.get("snr_db", 10.0), f"{where}.snr_db")
        points += [_point(models.index(model), str(entry["stage"]), snr, q, w, precision, seed, len(seeds) > 1)
                   for seed in seeds]
    return points


def read_spec(path: str | Path) -> SweepSpec:
    """Read and check a sweep spec (TOML); every error is one line naming the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep spec {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"sweep spec {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ConfigError(f"sweep spec: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(_TOP))}")
    base = path.resolve().parent
    raw_models = data.get("models", [])
    if not isinstance(raw_models, list):
        raise ConfigError(f"sweep spec: models must be a list of model directories, got {raw_models!r}")
    models = [_path(m, "models", base, "dir") for m in raw_models]
    channels, chunk, seed = data.get("channels", 1000), data.get("chunk", 1000), data.get("seed", 2026)
    for key, value, hi in (("channels", channels, MAX_CHANNELS), ("chunk", chunk, MAX_CHANNELS)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
            raise ConfigError(f"sweep spec: {key} must be an integer in 1..{hi}, got {value!r}")
    seeds = _int_list(data, "seed", 0, 2 ** 63 - 1, [2026])
    points = (_grid(data, models, base, seeds) if models else []) + _listed(data, models, base, seeds)
    if not points:
        raise ConfigError("sweep spec: no points (give models = [...] or [[points]])")
    keys = [p["key"] for p in points]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"sweep spec: point {next(k for k in keys if keys.count(k) > 1)} is listed twice")
    stop = data.get("stop", {})
    if not isinstance(stop, dict) or set(stop) - _STOP:
        raise ConfigError(f"sweep spec: [stop] takes only {', '.join(sorted(_STOP))}")
    rule = StopRule(ci=_number(stop.get("ci", 0.0), "stop.ci"), errors=int(_number(stop.get("errors", 0), "stop.errors")),
                    min_channels=int(_number(stop.get("min_channels", 0), "stop.min_channels")))
    if rule.ci < 0 or rule.errors < 0 or rule.min_channels < 0:
        raise ConfigError("sweep spec: [stop] values must be >= 0")
    qat = data.get("qat", {})
    if not isinstance(qat, dict):
        raise ConfigError("sweep spec: [qat] must be a table of `hbf-edge quantize` options")
    return SweepSpec(tuple(models), tuple(points), int(channels), min(int(chunk), int(channels)),
                     tuple(seeds) if isinstance(seed, list) else seeds[0], rule, qat)
