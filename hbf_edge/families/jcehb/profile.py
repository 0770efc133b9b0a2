"""Profile of a JCEHB model: per-slot latency per backend and stage, the op counts of spec 6.4
and a target estimate (JSON).

Stages: ``cedun`` (the L layers of the estimator, from the received pilots), ``hbdun`` (the L_h
digital layers, from the estimate) and the whole ``slot``.  The pilots' observation (the RF
front end's part) is not timed.  Backends (``JCEHB_BACKENDS``):

* ``torch_eager`` -- the network's own code (``JcehbNet.estimate`` / ``.digital``);
* ``numba_float64`` -- the compiled slot of :mod:`hbf_edge.kernels.jcehb` on checked arrays
  (``JcehbSession``: input checks excluded, as torch's are);
* ``numba_hardware`` -- a quantized model's integer slot (``JcehbHwSession``: the observation
  and the ADC excluded).  Its CEDUN is (17d) alone: (17a)-(17c) are superframe constants there,
  so its CEDUN figure and the op counts (the network's) measure different work;
* ``onnxruntime`` -- the exported float32 per-slot graph (the export stage's backend,
  :mod:`export.jcehb.profile`): the slot graph timed whole, CEDUN and HBDUN each exported and
  timed as a graph of its own.  Its CEDUN is (17d) alone too (the graph holds the superframe's
  gains as constants).  On a quantized model this is the float graph of its code phases;
* ``onnxruntime_int`` -- a quantized model's integer graph, the bundle's ``model.int.onnx``
  (:mod:`export.jcehb.onnx_int`, the export stage's backend), on the same received words as
  ``numba_hardware``; stages as ``onnxruntime``'s.

Figures are microseconds per channel (:func:`hbf_edge.bench.time_per_channel`: median and
quartiles of repeated runs after a warm-up) on seeded channels at the model's training SNR.
Per-layer figures are the stage's divided by its layers: every CEDUN layer does the same
arithmetic, and so does every HBDUN layer.
"""

from __future__ import annotations

from typing import Any

from hbf_edge.bench import time_per_channel
from hbf_edge.complexity import OpCount
from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import Say
from hbf_edge.families.jcehb.complexity import cedun_layer_ops, hbdun_layer_ops
from hbf_edge.families.jcehb.system import jcehb_channels, noise_power, pilot_noise
from hbf_edge.results import stamp, write_result

__all__ = ["profile_jcehb", "profile_jcehb_command", "JCEHB_BACKENDS"]

JCEHB_BACKENDS = ("numba_float64", "numba_hardware", "torch_eager", "onnxruntime", "onnxruntime_int")


def _ops(o: dict[str, int]) -> OpCount:
    return OpCount(flops=2 * o["real_macs"], matmul=2 * o["real_macs"], div=o["reciprocals"], sqrt=o["isqrt"])


def _timing(fns: dict[str, Any], batch: int, repeat: int, min_run_s: float) -> dict[str, Any]:
    return _row({stage: time_per_channel(fn, batch, repeat, min_run_s) for stage, fn in fns.items()})


def _row(timings: dict[str, Any]) -> dict[str, Any]:
    row = {}
    for stage, t in timings.items():
        row[f"{stage}_us_per_channel"] = 1e6 * t
        row[f"{stage}_iqr_us_per_channel"] = 1e6 * (t.q3 - t.q1)
    return row


def profile_jcehb(model: Any, batches: tuple[int, ...], repeat: int, backends: tuple[str, ...], target: dict[str, Any],
                  snr_db: float, kernels: Any = None, model_dir: Any = None, seed: int = 2026,
                  min_run_s: float = 0.05, quantized: bool = False, onnx: Any = None,
                  onnx_int: Any = None) -> dict[str, Any]:
    """Profile a JCEHB network; returns a JSON-ready dict (module notes).  ``kernels``: the
    family's kernel stage (``numba_float64``, and ``numba_hardware`` for a ``quantized``
    directory), or None; ``onnx``: ``(Y, nu, repeat, min_run_s) -> {stage: Timing}`` (the
    ``onnxruntime`` backend), or None; ``onnx_int``: the same on received words and the noise
    word (``onnxruntime_int``, a quantized directory's), or None."""
    import torch

    from hbf_edge.profiling import target_estimate

    unknown = set(backends) - set(JCEHB_BACKENDS)
    if unknown or not backends:
        raise ConfigError(f"unknown backend(s) {sorted(unknown)}; a JCEHB profile knows {list(JCEHB_BACKENDS)}")
    z, L, Lh = model.sizes, model.n_pilots, model.n_hb
    nu = noise_power(snr_db)
    exact = model.inverse == "exact"
    result: dict[str, Any] = {"pilots": L, "hb_layers": Lh, "snr_db": snr_db, "inverse": model.inverse,
                              "ops_per_layer": {"cedun": cedun_layer_ops(z), "hbdun": hbdun_layer_ops(z, exact)},
                              "measured": {}, "skipped": {}}
    for name in ("numba_hardware", "onnxruntime_int"):
        if name in backends and not quantized:
            raise ConfigError(f"the {name} backend runs a quantized model's integer datapath: quantize the model "
                              "first (hbf-edge quantize)")
    for name in ("numba_float64", "numba_hardware"):
        if name in backends and kernels is None:
            result["skipped"][name] = "the JCEHB kernel stage is not installed"
    for name, fn in (("onnxruntime", onnx), ("onnxruntime_int", onnx_int)):
        if name in backends and fn is None:
            result["skipped"][name] = "the JCEHB export stage is not installed"
    if "onnxruntime_int" in backends and kernels is None:  # its received words come from the kernel stage
        result["skipped"]["onnxruntime_int"] = "the JCEHB kernel stage is not installed"
        onnx_int = None
    kmodel = kernels.load(model_dir) if kernels is not None and "numba_float64" in backends else None
    for batch in batches:
        H = jcehb_channels(batch, z, seed=seed)
        row: dict[str, Any] = {}
        with torch.no_grad():
            He = model.equivalent(torch.from_numpy(H))
            Y = model.observe(He, torch.from_numpy(pilot_noise(batch, z, L, seed + 1)), nu)
        if "torch_eager" in backends:
            with torch.no_grad():
                H_hat = model.estimate(Y)
                row["torch_eager"] = _timing({"cedun": lambda: model.estimate(Y),
                                              "hbdun": lambda: model.digital(H_hat, nu),
                                              "slot": lambda: model.digital(model.estimate(Y), nu)},
                                             batch, repeat, min_run_s)
        if kmodel is not None:
            session = kernels.session(kmodel, H, snr_db, seed + 1)
            session.run()  # the estimate that hbdun alone starts from
            row["numba_float64"] = _timing({"cedun": lambda: session.run("cedun"),
                                            "hbdun": lambda: session.run("hbdun"),
                                            "slot": lambda: session.run("slot")}, batch, repeat, min_run_s)
        hw_wanted = "numba_hardware" in backends or (onnx_int is not None and "onnxruntime_int" in backends)
        hw = kernels.session_hw(model_dir, H, snr_db, seed + 1) if kernels is not None and hw_wanted else None
        if hw is not None and "numba_hardware" in backends:
            hw.run()  # compiles, and leaves the estimate that hbdun alone starts from
            row["numba_hardware"] = _timing({"cedun": lambda: hw.run("cedun"), "hbdun": lambda: hw.run("hbdun"),
                                             "slot": lambda: hw.run("slot")}, batch, repeat, min_run_s)
        if onnx is not None and "onnxruntime" in backends:
            row["onnxruntime"] = _row(onnx(Y.numpy(), nu, repeat, min_run_s))
        if hw is not None and onnx_int is not None and "onnxruntime_int" in backends:
            row["onnxruntime_int"] = _row(onnx_int(hw.Y, hw.nu_word, repeat, min_run_s))
        for r in row.values():
            r["cedun_layer_us_per_channel"] = r["cedun_us_per_channel"] / L
            r["hbdun_layer_us_per_channel"] = r["hbdun_us_per_channel"] / Lh
        result["measured"][str(batch)] = row
    ce = target_estimate(_ops(result["ops_per_layer"]["cedun"]), target)
    hb = target_estimate(_ops(result["ops_per_layer"]["hbdun"]), target)
    result["target"] = {"name": target["name"], "assumptions": target["assumptions"], "cedun_layer": ce,
                        "hbdun_layer": hb, "slot_us": round(ce["us"] * L + hb["us"] * Lh, 3)}
    if not result["skipped"]:
        del result["skipped"]
    return result


def numerical_command(core: Any, s: Any, say: Say) -> dict[str, Any]:
    """``hbf-edge profile --numerical``: numerical.json, numerical.png and, with the advisor,
    advised_precision.toml (:mod:`hbf_edge.families.jcehb.numerical`)."""
    from hbf_edge._io import atomic_file
    from hbf_edge.families.jcehb.numerical import format_numerical, numerical_profile
    from hbf_edge.hw.precision import shared_formats_text
    from hbf_edge.plots import plot_numerical
    from hbf_edge.results import stamp, write_result

    _, config = core.load(s.model_dir)
    snrs = [config.family_config["snr_db"]] if s.snr is None else list(s.snr)
    target = 0.99 if s.retention_target is None else s.retention_target
    # 2000 slots: with 500 the advisor's formats (0.9904 there) kept 0.9882 on fresh slots, with
    # 2000 0.9904 (the embedded default at Q = 8, README "JCEHB numerical profile")
    result, sample = numerical_profile(s.model_dir, config, core, s.count or 2000, snrs, s.seed or 0, target or None,
                                       say=say)
    stamp(result, "numerical", core.spec.name, s.model_dir)
    out = s.out if s.out is not None else s.model_dir / "profile"
    write_result(out / "numerical.json", result)
    counters = result["overflows"]["total"]  # the plot's labels: formats whose words have a counter of their own
    plot_numerical({**result, "overflows": {"total": {"received": counters["input"], "heq": counters["heq"]}}},
                   sample, out / "numerical.png")
    written = "numerical.png"
    if "advisor" in result:
        from hbf_edge.families.jcehb.formats import JCEHB_FORMATS, JcehbFormats

        adv = result["advisor"]
        at = ", ".join(f"{x:g}" for x in snrs)
        text = shared_formats_text(f"hbf-edge profile --numerical of {s.model_dir}: the advisor's formats for "
                                   f"retention >= {adv['target']} at {at} dB", JcehbFormats.from_dict(adv["formats"]),
                                   JCEHB_FORMATS)
        with atomic_file(out / "advised_precision.toml") as tmp:
            tmp.write_text(text)
        written += " and advised_precision.toml"
    say(format_numerical(result))
    say(f"wrote {out / 'numerical.json'}, {written}")
    return result


def profile_jcehb_command(core: Any, s: Any, target: dict[str, Any], extra: dict[str, Any], say: Say) -> dict[str, Any]:
    """``hbf-edge profile`` of a JCEHB model directory: run, write ``profile.json``, report
    (with ``--numerical``: :func:`numerical_command`)."""
    from hbf_edge.kernels import REGISTRY

    if s.numerical:
        return numerical_command(core, s, say)

    model, config = (extra.get("load_torch") or core.load)(s.model_dir)
    if config.family_config["design"] == "black-box":
        raise ConfigError(f"{s.model_dir} holds the black-box network: the profile (per CEDUN and HBDUN layer, with "
                          "the spec's op counts) covers the unfolded one")
    kernels = REGISTRY.get(core.spec.name) if REGISTRY.has(core.spec.name) else None
    quantized = config.quantization is not None
    ort_slot = extra.get("onnxruntime")  # (model, config) -> the timer of its graphs, exported once
    wanted = s.backends is None or not s.backends or "onnxruntime" in s.backends
    onnx = ort_slot(model, config) if ort_slot is not None and wanted else None
    ort_int = extra.get("onnxruntime_int")  # (model_dir, config) -> the timer of its integer graphs
    wanted_int = quantized and (s.backends is None or not s.backends or "onnxruntime_int" in s.backends)
    onnx_int = ort_int(s.model_dir, config) if ort_int is not None and wanted_int else None
    available = {"torch_eager": True, "numba_float64": kernels is not None,
                 "numba_hardware": kernels is not None and quantized, "onnxruntime": onnx is not None,
                 "onnxruntime_int": onnx_int is not None and kernels is not None}
    backends = tuple(s.backends) if s.backends else tuple(b for b in JCEHB_BACKENDS if available[b])
    batches = tuple(s.batches) if s.batches else core.default_batches
    repeat = s.repeat if s.repeat is not None else 5
    result = profile_jcehb(model, batches, repeat, backends, target, config.family_config["snr_db"], kernels=kernels,
                           model_dir=s.model_dir, quantized=quantized, onnx=onnx, onnx_int=onnx_int)
    stamp(result, "profile", core.spec.name, s.model_dir)
    out = s.out if s.out is not None else s.model_dir / "profile"
    write_result(out / "profile.json", result)
    o = result["ops_per_layer"]
    say(f"JCEHB: {result['pilots']} CEDUN layers of {o['cedun']['real_macs']:,} real MACs, {result['hb_layers']} HBDUN "
        f"layers of {o['hbdun']['real_macs']:,} ({result['inverse']} inverse); microseconds per channel "
        f"(CEDUN / HBDUN / slot, median)")
    for batch, row in result["measured"].items():
        say(f"batch {batch}: " + ", ".join(f"{name} {r['cedun_us_per_channel']:.1f} / {r['hbdun_us_per_channel']:.1f}"
                                           f" / {r['slot_us_per_channel']:.1f}" for name, r in row.items()))
    for name, why in result.get("skipped", {}).items():
        say(f"{name} skipped: {why}")
    t = result["target"]
    say(f"target {t['name']}: CEDUN layer {t['cedun_layer']['us']} us, HBDUN layer {t['hbdun_layer']['us']} us, "
        f"slot {t['slot_us']} us (estimate)")
    say(f"wrote {out / 'profile.json'}")
    return result
