"""Per-layer profile of an unfolded model: measured latency per backend, analytic cost, and an
embedded-target estimate.

Stages are the initialisation (eq. 12-13) and each layer.  Backends:

* ``numba_float64`` / ``numba_float32`` -- the compiled float kernels, input checks excluded;
  each stage timed as the forward runs it (:mod:`hbf_edge._profile_timers`: by the forward's own
  channel loop, on the state the stages before it leave, prepared untimed, many runs per call),
  so the stages add up to the whole (default model, 2026-12-04: within 6 % at batch 1; two
  profiles within 10 % per stage but for one layer their spread warning flagged);
* ``numba_hardware`` -- the bit-accurate fixed-point kernels, stage by stage in the same way
  (the output stage too), at the model's per-layer precision if it is quantized, else at the
  embedded default (Q=4, default formats);
* ``torch_eager`` -- the network's own stage modules (``model.init``, ``model.layers[i]``);
* ``onnxruntime`` -- one run of the exported graph with onnxruntime's profiler; each node's
  kernel time is assigned to the stage in its name (``/init/...``, ``/layers.<i>/...``);
* ``onnxruntime_qcdq`` -- a quantized model's ``model.qcdq.onnx`` (the graph a bundle ships),
  whole forward only: its nodes are named by quantizer, not by stage.

Each figure is microseconds per channel: the median of repeated runs after a warm-up
(:func:`hbf_edge.bench.time_per_channel`), with the interquartile range beside it
(``iqr_us_per_channel``); ``warnings`` names the cells whose runs spread by more than 20 % of
the median and the backends whose stages do not add up to the whole within 20 %.  ``whole`` is the full forward timed the same way,
so ``stage_sum_over_whole`` shows how well the stages add up; ``achieved_gflops`` and
``fraction_of_peak`` relate the whole forward to the machine's measured float64 matmul rate.  The target estimate turns the
analytic counts (:mod:`hbf_edge.complexity`) into cycles with a target description file.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge._profile_timers import OUTPUT_STAGE, stage_names, time_hardware, time_numba, time_torch
from hbf_edge.bench import Timing
from hbf_edge.complexity import OpCount, upga_ops
from hbf_edge.errors import ConfigError

__all__ = ["BACKENDS", "profile_model", "load_target", "resolve_target", "target_estimate", "integer_estimate",
           "operand_bits", "format_profile", "stage_names"]

BACKENDS = ("numba_float64", "numba_float32", "numba_hardware", "torch_eager", "onnxruntime",
            "onnxruntime_qcdq")
TARGET_KEYS = {"name": str, "clock_hz": float, "real_macs_per_cycle": float, "cycles_per_div": float,
               "cycles_per_sqrt": float, "cycles_per_trig": float, "bytes_per_word": int, "assumptions": str}
# optional: integer MACs per cycle by operand width class (bits), and the cycles of a table read;
# a target without them gives no integer estimate
INT_KEYS = {"int_macs_per_cycle": dict, "cycles_per_lookup": float}


def resolve_target(target: str | os.PathLike) -> dict[str, Any]:
    """A target by example name (``dsp``, ``mcu``: ``hbf_edge/targets/*.toml``) or ``.toml`` path."""
    path = Path(target)
    if not path.suffix:
        path = Path(__file__).resolve().parent / "targets" / f"{target}.toml"
        if not path.is_file():
            raise ConfigError(f"unknown example target {str(target)!r}: use dsp, mcu or a .toml file")
    return load_target(path)


def load_target(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a target description (``.toml``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read target file {path}: {exc}") from exc
    missing = set(TARGET_KEYS) - set(data)
    unknown = set(data) - set(TARGET_KEYS) - set(INT_KEYS)
    if missing or unknown:
        raise ConfigError(f"{path}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}")
    for key, kind in TARGET_KEYS.items():
        if kind is not str and (not isinstance(data[key], (int, float)) or data[key] <= 0):
            raise ConfigError(f"{path}: {key} must be a positive number")
    if ("int_macs_per_cycle" in data) != ("cycles_per_lookup" in data):
        raise ConfigError(f"{path}: int_macs_per_cycle and cycles_per_lookup come together")
    if "int_macs_per_cycle" in data:
        table = data["int_macs_per_cycle"]
        ok = isinstance(table, dict) and table and all(
            k.isdigit() and 1 <= int(k) <= 64 and isinstance(v, (int, float)) and v > 0 for k, v in table.items())
        if not ok or not isinstance(data["cycles_per_lookup"], (int, float)) or data["cycles_per_lookup"] <= 0:
            raise ConfigError(f"{path}: int_macs_per_cycle must map operand widths (\"8\", \"16\", ... up to "
                              "\"64\") to positive rates, and cycles_per_lookup be a positive number")
        data["int_macs_per_cycle"] = dict(sorted((int(k), float(v)) for k, v in table.items()))
    return data


def target_estimate(ops: OpCount, target: dict[str, Any]) -> dict[str, float]:
    """Cycles and microseconds of a stage on a target: multiply-accumulates (a MAC is 2 flops)
    at ``real_macs_per_cycle``, plus each special operation at its cycle cost."""
    cycles = (ops.flops / 2.0 / target["real_macs_per_cycle"] + ops.div * target["cycles_per_div"]
              + ops.sqrt * target["cycles_per_sqrt"] + ops.trig * target["cycles_per_trig"])
    return {"cycles": round(cycles), "us": round(cycles / target["clock_hz"] * 1e6, 3)}


def integer_estimate(ops: OpCount, operand_bits: int, target: dict[str, Any]) -> dict[str, float] | None:
    """Cycles and microseconds of a stage of the integer datapath: its multiply-accumulates
    (``flops / 2``) at the target's integer rate for operands of ``operand_bits`` (the narrowest
    width class that holds them; wider than every class: the widest class's rate divided by the
    square of the word count, a multi-word product), divisions and square roots at their listed
    costs, and each transcendental a table read (``cycles_per_lookup``: the datapath's cos/sin
    and Gaussian tables).  None when the target gives no integer rates."""
    table = target.get("int_macs_per_cycle")
    if not table:
        return None
    fits = [w for w in table if w >= operand_bits]
    if fits:
        rate = table[min(fits)]
    else:
        widest = max(table)
        rate = table[widest] / math.ceil(operand_bits / widest) ** 2
    cycles = (ops.flops / 2.0 / rate + ops.div * target["cycles_per_div"] + ops.sqrt * target["cycles_per_sqrt"]
              + ops.trig * target["cycles_per_lookup"])
    return {"cycles": round(cycles), "us": round(cycles / target["clock_hz"] * 1e6, 3), "operand_bits": operand_bits,
            "macs_per_cycle": rate}


def operand_bits(spec: Any) -> int:
    """The widest word a UPGA hardware layer multiplies: every format is an operand somewhere
    (``kernels/upga/_fixed.py``: ``E = G W`` multiplies accumulator words by precoder words,
    ``mu g`` step by gradient words), so a stage's MACs are classed by the widest of them, an
    upper bound on the width most of its products need."""
    return max(getattr(spec, name).word_bits for name in ("channel", "precoder", "lut", "gradient", "step",
                                                          "accumulator"))


def profile_model(model_dir: str | os.PathLike, batches: tuple[int, ...] = (1, 256),
                  backends: tuple[str, ...] | None = None, repeat: int = 5, min_run_s: float = 0.02,
                  snr_db: float = 10.0, seed: int = 0, target: dict[str, Any] | None = None,
                  progress: bool = False, onnxruntime: Any = None, onnxruntime_qcdq: Any = None) -> dict[str, Any]:
    """Profile a UPGA model directory (float or quantized); returns a JSON-ready dict.

    ``onnxruntime`` times the exported float graph stage by stage, ``onnxruntime_qcdq`` a
    quantized model's ``model.qcdq.onnx`` whole (the export stage's ``profile_backends()``);
    without them those backends are refused, and ``onnxruntime_qcdq`` also for a float model."""
    from hbf_edge._progress import progress_bar

    from hbf_edge.channels import saleh_valenzuela_like
    from hbf_edge.modeldir import load_model

    from hbf_edge.modelfiles import read_model_dir

    quantized = read_model_dir(model_dir)[0].precision is not None
    runners = {"onnxruntime": onnxruntime, "onnxruntime_qcdq": onnxruntime_qcdq}
    if backends is None:  # every backend this call can run
        backends = tuple(b for b in BACKENDS if runners.get(b, True) is not None
                         and (b != "onnxruntime_qcdq" or quantized))
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise ConfigError(f"unknown backend(s) {sorted(unknown)}; known: {list(BACKENDS)}")
    for name, runner in runners.items():
        if name in backends and runner is None:
            raise ConfigError(f"the {name} backend needs the exporter (profile_model(..., {name}=...))")
    if "onnxruntime_qcdq" in backends and not quantized:
        raise ConfigError("the onnxruntime_qcdq backend times a quantized model's model.qcdq.onnx; "
                          f"{model_dir} is a float model")
    if not batches or any(b < 1 for b in batches) or repeat < 1:
        raise ConfigError("batches and repeat must be >= 1")
    import numba

    from hbf_edge.bench import matmul_gflops

    model, config = load_model(model_dir, family="upga")
    peak = matmul_gflops()
    threads = numba.get_num_threads()
    spec = config.spec
    ops = upga_ops(spec.n_antennas, spec.n_rf, spec.n_users, config.n_layers, config.n_inner)
    names = stage_names(config.n_layers)
    stage_ops = {name: ops["init"] if name == "init" else ops["layer"] for name in names}
    max_evals = _search_evaluations(config)
    if config.output_xi is not None:  # the hardware datapath's output stage (the float backends have none)
        names.append(OUTPUT_STAGE)
        stage_ops[OUTPUT_STAGE] = ops["output"] + max_evals * ops["search_eval"]  # the search: at most
    word = 8
    state_words = 2 * (spec.n_antennas * spec.n_users + spec.n_antennas * spec.n_rf + spec.n_rf * spec.n_users)
    cost = {name: {**stage_ops[name].to_dict(), "state_bytes_float64": state_words * word,
                   "param_bytes_float64": 0 if name == "init" else (config.n_inner + 1) * word} for name in names}
    measured: dict[str, Any] = {}
    warnings: list[str] = []
    bar = progress_bar(total=len(batches) * len(backends), desc="profile", progress=progress)
    for B in batches:
        H = saleh_valenzuela_like(config, B, seed)
        p_t, noise = np.full(B, 10 ** (snr_db / 10)), np.ones(B)
        per_backend = {}
        for backend in backends:
            if backend == "numba_float64":
                stages, whole = time_numba(model, H, p_t, noise, np.float64, repeat, min_run_s)
            elif backend == "numba_float32":
                stages, whole = time_numba(model, H, p_t, noise, np.float32, repeat, min_run_s)
            elif backend == "numba_hardware":
                stages, whole = time_hardware(model, config, hardware_layers(config), H, p_t, noise, repeat, min_run_s)
            elif backend == "torch_eager":
                stages, whole = time_torch(model, H, p_t, noise, repeat, min_run_s)
            elif backend == "onnxruntime_qcdq":
                stages, whole = onnxruntime_qcdq(model_dir, H, p_t, noise, repeat, min_run_s)
            else:
                stages, whole = onnxruntime(model, config, H, p_t, noise, repeat, min_run_s)
            flops = ops["total"].flops + (stage_ops[OUTPUT_STAGE].flops if OUTPUT_STAGE in stages else 0)
            per_backend[backend] = {
                "us_per_channel": {k: round(v * 1e6, 3) for k, v in stages.items()},
                "iqr_us_per_channel": {k: round((v.q3 - v.q1) * 1e6, 3) for k, v in stages.items()
                                       if isinstance(v, Timing)},
                "whole_us_per_channel": round(whole * 1e6, 3),
                "whole_iqr_us_per_channel": round((whole.q3 - whole.q1) * 1e6, 3) if isinstance(whole, Timing) else None,
                "stage_sum_over_whole": round(sum(stages.values()) / whole, 3) if stages else None,
                "achieved_gflops": float(f"{flops / whole / 1e9:.4g}"),  # 4 digits: tiny models stay > 0
                "fraction_of_peak": float(f"{flops / whole / 1e9 / (peak * threads):.4g}"),
            }
            warnings += _warnings(B, backend, stages, whole)
            bar.update()
        measured[str(B)] = per_backend
    bar.close()
    out: dict[str, Any] = {
        "model_dir": str(model_dir),
        "sizes": {"N": spec.n_antennas, "M": spec.n_rf, "K": spec.n_users, "I": config.n_layers, "J": config.n_inner},
        "stages": names,
        "cost": cost,
        "measured": measured,
        "settings": {"repeat": repeat, "snr_db": snr_db, "seed": seed},
        "machine": {"matmul_gflops_1core_float64": round(peak, 2), "threads": threads,
                    "note": "fraction_of_peak = achieved GFLOP/s / (single-core float64 matmul rate x threads)"},
    }
    out["warnings"] = warnings
    if "numba_hardware" in backends:
        q = hardware_layers(config)[-1].phase_bits
        out["numba_hardware"] = {"phase_bits": q, "note": "the model's own precision" if config.precision is not None
                                 else f"a float model: the hardware backend runs at the embedded default Q={q} "
                                      "and default formats"}
    if max_evals:
        out["code_search"] = {**config.code_search, "max_evaluations": max_evals,
                              "note": "the output stage includes the code search; its cost (and the achieved "
                                      "GFLOP/s and target estimate built on it) assume every sweep runs all "
                                      "max_evaluations candidates, an upper bound (a sweep that changes nothing "
                                      "ends the search)"}
    if target is not None:
        out["target"] = _target(target, config, names, stage_ops, state_words)
    return out


def _target(target: dict[str, Any], config: Any, names: list[str], stage_ops: dict[str, OpCount],
            state_words: int) -> dict[str, Any]:
    """The float estimate of every stage, and for a quantized model the integer one (each layer
    at its own formats' operand width; the init and the output stage at the first and last
    layer's), which is then the ``total_us``; the state's bytes on the target."""
    est: dict[str, Any] = {"name": target["name"], "assumptions": target["assumptions"],
                           "stages": {name: target_estimate(stage_ops[name], target) for name in names}}
    est["float_total_us"] = round(sum(v["us"] for v in est["stages"].values()), 3)
    est["total_us"], est["arithmetic"] = est["float_total_us"], "float"
    est["state_bytes"] = state_words * target["bytes_per_word"]
    if config.precision is None:
        return est
    layers = hardware_layers(config)
    per_stage = {name: layers[0] if name == "init" else layers[-1] if name == OUTPUT_STAGE
                 else layers[int(name.split()[1])] for name in names}
    integer = {name: integer_estimate(stage_ops[name], operand_bits(spec), target) for name, spec in per_stage.items()}
    last = layers[-1]
    # H (channel words), F (phase codes), W (precoder words), real and imaginary parts
    est["state_bytes"] = (2 * last.n_antennas * last.n_users * math.ceil(last.channel.word_bits / 8)
                          + last.n_antennas * last.n_rf * math.ceil(last.phase_bits / 8)
                          + 2 * last.n_rf * last.n_users * math.ceil(last.precoder.word_bits / 8))
    if integer[names[0]] is None:
        est["integer_note"] = "this target gives no integer rates (int_macs_per_cycle): the float estimate stands"
        return est
    est["integer_stages"] = integer
    est["total_us"], est["arithmetic"] = round(sum(v["us"] for v in integer.values()), 3), "integer"
    return est


SPREAD_LIMIT = 0.2  # interquartile range over median, and |sum of stages / whole - 1|, beyond which we warn


def _warnings(batch: int, backend: str, stages: dict[str, float], whole: float) -> list[str]:
    """What makes a cell untrustworthy: a large spread between runs, or stages that do not add up
    to the whole forward (timed separately, so each stage's fixed call overhead is counted)."""
    out = []
    noisy = [k for k, v in {**stages, "whole": whole}.items() if isinstance(v, Timing) and v.spread > SPREAD_LIMIT]
    if noisy:
        out.append(f"batch {batch}, {backend}: runs spread by more than {SPREAD_LIMIT:.0%} of the median in "
                   f"{', '.join(noisy)} (a busy machine? raise --repeat)")
    ratio = sum(stages.values()) / whole
    if stages and abs(ratio - 1.0) > SPREAD_LIMIT:
        out.append(f"batch {batch}, {backend}: the stages add up to {ratio:.2f}x the whole forward (each stage is "
                   "timed on its own, with its own call overhead; compare stages with each other, not with the whole)")
    return out


FLOAT_MODEL_PHASE_BITS = 4  # the embedded default the hardware backend runs a float model at


def hardware_layers(config: Any) -> list[Any]:
    """Per-layer hardware specs the ``numba_hardware`` backend runs: a quantized model's own
    precision, or the embedded default (Q=4, default formats) for a float model."""
    if config.precision is None:
        return [config.spec.replace(phase_bits=FLOAT_MODEL_PHASE_BITS)] * config.n_layers
    from hbf_edge.hw.precision import PrecisionConfig

    return PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).layer_specs()


def _search_evaluations(config: Any) -> int:
    """Candidates the model's code search evaluates at most (0 without a search): the start and
    ``sweeps x N M x (codes within span, each once)``."""
    cs = config.code_search
    if cs is None:
        return 0
    last = hardware_layers(config)[-1]
    per_entry = min(2 * cs["span"], (1 << last.phase_bits) - 1)
    return 1 + cs["sweeps"] * last.n_antennas * last.n_rf * per_entry


def format_profile(result: dict[str, Any], batch: str) -> str:
    """A plain-text table: stages x backends (us per channel) at one batch size."""
    data = result["measured"][batch]
    backends = list(data)
    head = f"{'stage':>8} | {'flops':>8} | " + " | ".join(f"{b:>14}" for b in backends)
    lines = [f"per-channel latency (us) at batch {batch}", head, "-" * len(head)]
    for name in result["stages"]:
        cells = " | ".join(f"{data[b]['us_per_channel'][name]:14.2f}" if name in data[b]["us_per_channel"]
                           else f"{'-':>14}" for b in backends)
        lines.append(f"{name:>8} | {result['cost'][name]['flops']:8d} | {cells}")
    lines.append(f"{'sum':>8} | {'':8} | " + " | ".join(f"{sum(data[b]['us_per_channel'].values()):14.2f}"
                                                     if data[b]["us_per_channel"] else f"{'-':>14}" for b in backends))
    lines.append(f"{'whole':>8} | {'':8} | " + " | ".join(f"{data[b]['whole_us_per_channel']:14.2f}" for b in backends))
    if "target" in result:
        t = result["target"]
        lines.append(f"target {t['name']}: {t['total_us']} us per channel ({t['arithmetic']} arithmetic, estimate)"
                     + (f"; float: {t['float_total_us']} us" if t["arithmetic"] == "integer" else ""))
    if "numba_hardware" in result and "numba_hardware" in backends:
        lines.append(f"numba_hardware: Q={result['numba_hardware']['phase_bits']} ({result['numba_hardware']['note']})")
    lines += [f"warning: {w}" for w in result.get("warnings", []) if w.startswith(f"batch {batch},")]
    return "\n".join(lines)
