"""The demo's ``report.md``: its summary as tables and lines (:func:`hbf_edge.demo.run_demo`)."""

from __future__ import annotations

from typing import Any

__all__ = ["demo_report"]


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


def demo_report(s: dict[str, Any]) -> str:
    """``report.md`` of a demo's summary."""
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
