"""``hbf-edge demo``: the toolkit end to end on the embedded default configuration.

channels -> float UPGA training -> evaluation against the baselines -> QAT to 4-bit phases and
12-bit W (with both PTQ baselines) -> bundle export -> replay in the RF controller simulator ->
per-layer profile -> ``report.md`` and ``report.html`` (``hbf-edge report``).  Every stage writes
what its own command would, under one output directory::

    OUT/model  OUT/eval  OUT/qat  OUT/bundle  OUT/sim  OUT/profile  OUT/report.md  OUT/report.html

This module ties the stages together, so it (like the CLI) may call ``firmware_sim``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable


__all__ = ["run_demo", "DEMO_PHASE_BITS", "DEMO_PRECODER_BITS"]

TARGETS = Path(__file__).resolve().parent / "targets"
DEMO_PHASE_BITS = 4
DEMO_PRECODER_BITS = 12
TEST_SEED = 2026


def _stage(log: Callable[[str], None], name: str, times: dict[str, float]):
    class _Timer:
        def __enter__(self):
            log(f"[demo] {name} ...")
            self.t0 = time.perf_counter()

        def __exit__(self, *exc):
            times[name] = round(time.perf_counter() - self.t0, 2)
            if exc[0] is None:
                log(f"[demo] {name}: {times[name]} s")

    return _Timer()


MARKER = ".hbf-edge-demo"  # a folder the demo made (and may therefore write again)


def run_demo(out: str | Path, quick: bool = False, progress: bool = True,
             log: Callable[[str], None] | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Run every stage; return the summary that ``report.md`` shows.

    ``log`` receives one line per stage start and end (the CLI passes ``print``); silent by
    default, as library code is.  ``out`` must be new, empty or an earlier demo's folder, unless
    ``overwrite``: the demo replaces its own subfolders (``model/``, ``qat/``, ...).
    """
    from hbf_edge.errors import ConfigError

    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists() and not overwrite)):
        raise ConfigError(f"{out} is not empty and was not made by hbf-edge demo: choose another --out "
                          "(or pass --overwrite to let the demo replace its subfolders there)")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()
    log = log or (lambda line: None)
    from hbf_edge import firmware_sim
    from hbf_edge.export import read_bundle, write_bundle
    from hbf_edge.export.upga.profile import onnxruntime_stages
    from hbf_edge.quant import PrecisionConfig, save_quantized, train_qat
    from hbf_edge.quant.upga.evaluate import retention
    from hbf_edge.quant.upga.stage import HardwareOptions
    from hbf_edge.quant.upga.train import output_xi_for

    from hbf_edge._io import atomic_file, dumps
    from hbf_edge.results import stamp, write_result
    from hbf_edge.channels import saleh_valenzuela_miso
    from hbf_edge.families.upga.evaluate import evaluate
    from hbf_edge.modeldir import save_model
    from hbf_edge.plots import plot_beampattern, plot_profile, plot_rate_vs_layers, plot_rate_vs_snr
    from hbf_edge.profiling import load_target, profile_model
    from hbf_edge.report import render_report
    from hbf_edge.hw.spec import FixedPointFormat
    from hbf_edge.training import TrainConfig, train_upga

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    train_cfg = TrainConfig(train_size=100, epochs=3) if quick else TrainConfig()
    n_test = 200 if quick else 1000
    H_test = saleh_valenzuela_miso(n_test, train_cfg.n_antennas, train_cfg.n_users, train_cfg.n_paths, seed=TEST_SEED)

    with _stage(log, "train float UPGA", times):
        model, config = train_upga(train_cfg, progress=progress)
        save_model(model, config, out / "model", overwrite=True)
    with _stage(log, "evaluate against the baselines", times):
        results, _ = evaluate(model, H_test, [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0], progress=progress)
        write_result(out / "eval" / "results.json",
                     stamp(results, "evaluation", "upga", out / "model", metrics={"sum_rate": results["sum_rate"]}))
        plot_rate_vs_snr(results, out / "eval" / "rate_vs_snr.png")
        plot_rate_vs_layers(results, out / "eval" / "rate_vs_layers.png")
    with _stage(log, f"QAT to {DEMO_PHASE_BITS}-bit phases, {DEMO_PRECODER_BITS}-bit W", times):
        stage, internal = HardwareOptions().recipe(DEMO_PHASE_BITS)  # quantize's default recipe at this Q
        precision = PrecisionConfig.from_bits(config.spec, config.n_layers, DEMO_PHASE_BITS,
                                              FixedPointFormat(DEMO_PRECODER_BITS, DEMO_PRECODER_BITS - 2), internal)
        loop = TrainConfig(train_size=50 if quick else 500, epochs=1 if quick else 5, lr=1e-2, seed=1)
        qmodel, qconfig = train_qat(model, config, precision, loop, progress=progress, output_xi=output_xi_for(stage))
        save_quantized(qmodel, qconfig, out / "qat", overwrite=True)
        ret = retention(model, qmodel, H_test, [10.0, 20.0])
        ret["recipe"] = {"output_stage": stage, "internal_phase_bits": internal, "code_search": None}
        ret = stamp(ret, "retention", "upga", out / "qat", method="qat")
        write_result(out / "qat" / "retention.json", ret)
        plot_rate_vs_snr(results, out / "eval" / "rate_vs_snr.png",  # the headline plot, with the quantized designs
                         extra={f"QAT, Q={DEMO_PHASE_BITS}, W {DEMO_PRECODER_BITS} bits (hardware datapath)":
                                (ret["snr_db"], ret["sum_rate"]["quantized"])})
    n_beams = 50 if quick else 200
    with _stage(log, "export the bundle", times):
        write_bundle(out / "qat", out / "bundle", H_test[:n_beams], snr_db=10.0, overwrite=True)
        verified = read_bundle(out / "bundle").manifest["verified"]
    with _stage(log, "replay in the RF controller simulator", times):
        sim, patterns = firmware_sim.simulate(out / "bundle")
        (out / "sim").mkdir(exist_ok=True)
        write_result(out / "sim" / "simulate.json", stamp(sim, "simulation", "upga", None))
        plot_beampattern(patterns, out / "sim" / "beampattern.png", title="channel 0, ideal calibration")
    with _stage(log, "profile per layer", times):
        prof = profile_model(out / "qat", batches=(1, 64 if quick else 256), repeat=2 if quick else 5,
                             min_run_s=0.0 if quick else 0.02, target=load_target(TARGETS / "dsp.toml"),
                             progress=progress, onnxruntime=onnxruntime_stages)
        write_result(out / "profile" / "profile.json", stamp(prof, "profile", "upga", out / "qat"))
        plot_profile(prof, str(max(int(b) for b in prof["measured"])), out / "profile" / "profile.png")
    summary = {"quick": quick, "seconds": times, "evaluation": results, "retention": ret, "simulation": sim,
               "profile": prof, "n_test": n_test, "n_beams": n_beams, "onnx_verified": verified}
    with atomic_file(out / "report.md") as tmp:
        tmp.write_text(_report(summary))
    with atomic_file(out / "summary.json") as tmp:
        tmp.write_text(dumps(summary, "the demo summary") + "\n")
    render_report(out)
    return summary


def _profile_lines(prof: dict[str, Any]) -> list[str]:
    """Per-layer latency table (us per channel) at the largest batch, and the target estimate."""
    batch = str(max(int(b) for b in prof["measured"]))
    data = prof["measured"][batch]
    backends = list(data)
    target = prof["target"]
    est = target.get("integer_stages") or target["stages"]  # a quantized model: its integer datapath
    lines = [f"Per stage, us per channel at batch {batch} (`hbf-edge profile`), with the "
             f"{target['name']} estimate ({target['arithmetic']} arithmetic):", "",
             "| stage | flops | " + " | ".join(backends) + " | target estimate |",
             "|---|---:|" + "---:|" * (len(backends) + 1)]
    for name in prof["stages"]:
        cells = " | ".join(f"{data[b]['us_per_channel'][name]:.2f}" if name in data[b]["us_per_channel"] else "-"
                           for b in backends)
        lines.append(f"| {name} | {prof['cost'][name]['flops']} | {cells} | {est[name]['us']:.2f} |")
    lines.append("| whole forward | | " + " | ".join(f"{data[b]['whole_us_per_channel']:.2f}" for b in backends)
                 + f" | {prof['target']['total_us']:.2f} |")
    lines.append("| sum of stages / whole | | " + " | ".join(f"{data[b]['stage_sum_over_whole']:.2f}" for b in backends) + " | |")
    return lines


def _c_line(check: dict[str, Any] | None) -> str:
    """The report's line on the C datapath check the exporter recorded (or why there is none)."""
    if check is None:
        return "C datapath: not part of this bundle."
    if not check.get("checked", True):
        return f"C datapath (`bundle/hbf_model.c`): written, not compiled here ({check['why']})."
    return (f"C datapath (`bundle/hbf_model.c`, {check['compiler']}, `{check['flags']}`): phase codes, W words and "
            f"overflow counters equal the hardware kernel's on all {check['channels']} exported beams; "
            "`hbf-edge firmware bundle` repeats the check with sanitizers, on 32-bit ARM and for a Cortex-M4.")


def _report(s: dict[str, Any]) -> str:
    ev, ret, sim = s["evaluation"], s["retention"], s["simulation"]
    i10 = ev["snr_db"].index(10.0)
    r = ret["sum_rate"]
    lines = [
        "# hbf-edge demo report",
        "",
        f"UPGA, N={ev['sizes']['N']}, M={ev['sizes']['M']}, K={ev['sizes']['K']}, I={ev['sizes']['I']}, "
        f"J={ev['sizes']['J']}; {s['n_test']} held-out channels{' (quick settings)' if s['quick'] else ''}.",
        "",
        "## Sum rate (bit/s/Hz)",
        "",
        "| design | 10 dB | 20 dB |",
        "|---|---:|---:|",
        f"| float UPGA | {r['float'][0]:.3f} | {r['float'][1]:.3f} |",
        f"| PTQ: round phases (Q={ret['phase_bits']}) | {r['ptq_round'][0]:.3f} | {r['ptq_round'][1]:.3f} |",
        f"| PTQ: round + ZF refit | {r['ptq_refit'][0]:.3f} | {r['ptq_refit'][1]:.3f} |",
        f"| QAT, hardware datapath (Q={ret['phase_bits']}, W {ret['precoder']['word_bits']} bits) | "
        f"{r['quantized'][0]:.3f} | {r['quantized'][1]:.3f} |",
        f"| PGA-100 (float) | {ev['sum_rate']['pga100'][i10]:.3f} | {ev['sum_rate']['pga100'][-1]:.3f} |",
        f"| fully digital ZF | {ev['sum_rate']['zf'][i10]:.3f} | {ev['sum_rate']['zf'][-1]:.3f} |",
        "",
        f"Applied by the simulated RF front end ({s['n_beams']} exported beams at 10 dB): "
        f"{sim['sum_rate']['applied_mean']:.4f} vs the model's {sim['sum_rate']['model_mean']:.4f} bit/s/Hz; "
        f"code mismatches {sim['code_mismatches']['direct']} (direct) / {sim['code_mismatches']['ram']} (beam RAM); "
        f"rejected transactions {sum(sim['rejected_transactions'].values())}.",
        "",
        f"Quantized ONNX (`bundle/model.qcdq.onnx`, onnxruntime): phase codes and W words equal the hardware "
        f"kernel's on all {s['onnx_verified']['model.qcdq.onnx']['channels']} exported beams "
        "(checked by the exporter); `bundle/model.qonnx.onnx` holds the same datapath as QONNX.",
        "",
        _c_line(s["onnx_verified"].get("hbf_model.c")),
        "",
        "## Latency",
        "",
        "| what | time |",
        "|---|---:|",
        f"| beam switch, direct register writes (SPI {sim['array']['spi_hz'] / 1e6:g} MHz) | "
        f"{sim['latency_us']['direct_switch']:.2f} us |",
        f"| beam switch, beam-RAM recall | {sim['latency_us']['ram_recall_switch']:.2f} us |",
        "",
        *_profile_lines(s["profile"]),
        "",
        "## Plots",
        "",
        "![sum rate vs SNR](eval/rate_vs_snr.png)",
        "![sum rate vs layers](eval/rate_vs_layers.png)",
        "![beampattern](sim/beampattern.png)",
        "![per-layer latency](profile/profile.png)",
        "",
        "## Stage times (s)",
        "",
        *[f"- {k}: {v}" for k, v in s["seconds"].items()],
        "",
    ]
    return "\n".join(lines)
