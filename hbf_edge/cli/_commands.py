"""The commands of ``hbf-edge``: each turns parsed options into calls on the family's stages.

This is the composition root: the only place (with :mod:`hbf_edge.demo`) where the core,
quant and export stages of a family meet.  No command knows a family by name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from hbf_edge.cli._options import settings_from
from hbf_edge.cli._parser import settings_class
from hbf_edge.errors import ConfigError

__all__ = ["run_family_command", "run_command", "stages_of", "all_families"]


def all_families() -> dict[str, Any]:
    """Name -> core stage of every registered family."""
    from hbf_edge.families import CORE

    return {name: CORE.get(name) for name in CORE.names()}


def stages_of(name: str, needed: tuple[str, ...] = ("core", "quant", "export")) -> dict[str, Any]:
    """The stage implementations of the family ``name`` (a stage it lacks is left out)."""
    from hbf_edge.families import CORE

    out: dict[str, Any] = {"core": CORE.get(name)}
    for stage in needed:
        if stage != "core" and _registry(stage).has(name):
            out[stage] = _registry(stage).get(name)
    return out


def _registry(stage: str) -> Any:
    if stage == "quant":
        from hbf_edge.quant import REGISTRY
    elif stage == "export":
        from hbf_edge.export import REGISTRY
    else:
        from hbf_edge.kernels import REGISTRY
    return REGISTRY


def _loader(stages: dict[str, Any]) -> Any:
    """Loads a directory's torch network, quantized or not: the quant stage's, else the core's."""
    return stages["quant"].load if "quant" in stages else stages["core"].load


def _emit_json(result: Any, out: Path | None) -> None:
    from hbf_edge._io import dumps, write_json

    print(dumps(result))
    if out is not None:
        write_json(out, result)


def _print_json(result: Any, s: Any) -> None:
    """With ``--json``, the command's result on stdout (strict JSON), instead of its tables."""
    if getattr(s, "json", False):
        from hbf_edge._io import dumps

        print(dumps(result))


def _guard_output(s: Any) -> Any:
    """Refuse settings whose ``out`` is or contains one of their input paths."""
    import dataclasses

    from hbf_edge._io import check_output

    if getattr(s, "out", None) is not None:
        inputs = []
        for f in dataclasses.fields(s):
            value = getattr(s, f.name)
            if f.name != "out" and isinstance(value, (Path, list)):
                inputs += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, Path)]
        check_output(s.out, inputs)
    return s


def run_family_command(command: tuple[str, ...], family: str, stages: dict[str, Any], args: argparse.Namespace
                       ) -> int:
    """A command on a model directory, or ``channels`` / ``train`` FAMILY."""
    core = stages["core"]
    if command == ("channels",):
        core.make_channels(_guard_output(settings_from(core.channel_settings, args)), say=print)
        return 0
    if command == ("train",):
        core.train(_guard_output(settings_from(core.train_settings, args)), say=print)
        return 0
    cls = settings_class(stages, command)
    if cls is None:
        raise ConfigError(f"`hbf-edge {' '.join(command)}` is not available for {family} models")
    s = _guard_output(settings_from(cls, args))
    say = (lambda _line: None) if getattr(s, "json", False) else print  # --json: the result alone on stdout
    if command == ("evaluate",):
        _print_json(core.evaluate(s, load=_loader(stages), say=say), s)
    elif command == ("quantize",):
        _print_json(stages["quant"].quantize(s, say=say), s)
    elif command == ("export",):
        from hbf_edge.export import read_key, sign_bundle

        key = read_key(s.sign) if s.sign is not None else None  # a bad key file fails before the export
        path = stages["export"].export(s, core, say=print)
        if key is not None:
            sign_bundle(path, key)
            print(f"signed {path / 'manifest.json'} with {s.sign} (HMAC-SHA256)")
    elif command == ("profile",):
        extra = dict(stages["export"].profile_backends()) if "export" in stages else {}
        extra["load_torch"] = _loader(stages)
        from hbf_edge.profiling import resolve_target

        _print_json(core.profile(s, resolve_target(s.target or "dsp"), extra, say=say), s)
    elif command == ("study", "quantization"):
        stages["quant"].study(s, say=print)
    elif command == ("bench", "model"):
        _emit_json(core.bench(s, load=_loader(stages)), s.out)
    elif command == ("bench", "agreement"):
        from hbf_edge.modelfiles import read_model_dir

        config, _ = read_model_dir(s.model_dir)
        H = core.read_channels(s.channels, config) if s.channels is not None else core.draw_channels(
            config, s.count, s.seed)
        _emit_json(stages["quant"].agreement(s.model_dir, H, seed=s.seed), s.out)
    return 0


def _cmd_families(args: argparse.Namespace) -> int:
    for name, core in all_families().items():
        print(f"{name:10s} {core.spec.title} (papers/{core.spec.paper}); channels "
              f"[{', '.join(core.spec.channel_axes)}]")
    return 0


def _cmd_precision(args: argparse.Namespace) -> int:
    from hbf_edge._io import atomic_file
    from hbf_edge.modelfiles import read_model_dir

    import dataclasses

    config, _ = read_model_dir(args.model_dir)
    quant = stages_of(config.family, ("quant",)).get("quant")
    if (quant is None or not hasattr(quant, "precision_template")
            or "precision" not in {f.name for f in dataclasses.fields(quant.quant_settings)}):
        raise ConfigError(f"{config.family} models take no precision file: their quantize options set the datapath "
                          f"(`hbf-edge quantize {args.model_dir} --help`)")
    text = quant.precision_template(config, args.model_dir, args.phase_bits)
    if args.out is None:
        print(text, end="")
        return 0
    with atomic_file(args.out) as tmp:
        tmp.write_text(text)
    print(f"wrote {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hbf_edge.demo import run_demo

    t0 = time.perf_counter()
    summary = run_demo(args.out, quick=args.quick, progress=not args.quiet, log=print, overwrite=args.overwrite,
                       precompile=args.precompile)
    ret = summary["retention"]
    print(f"QAT Q={ret['phase_bits']}: {ret['retention']['quantized'][0]:.2%} of float at 10 dB, "
          f"{ret['retention']['quantized'][1]:.2%} at 20 dB; simulated front end: "
          f"{summary['simulation']['code_mismatches']['direct']} code mismatches")
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; reports: {args.out / 'report.md'} and {args.out / 'report.html'}")
    return 0


def _bundle_family(bundle: Path) -> str:
    """The family a verified bundle's manifest names (schema-1 bundles were UPGA's)."""
    from hbf_edge._io import read_json

    return str(read_json(bundle / "manifest.json", ConfigError).get("family", "upga"))


def _cmd_simulate(args: argparse.Namespace) -> int:
    from hbf_edge import firmware_sim
    from hbf_edge._io import dumps
    from hbf_edge.results import stamp, write_result
    from hbf_edge.channels import read_channel_array, validate_miso_channels
    from hbf_edge.plots import plot_beampattern

    kind = firmware_sim.bundle_kind(args.bundle)
    if kind != "beams":  # a bundle kind of its own (superframe: JCEHB; transceiver: MSER)
        return _simulate_kind(args, kind)
    H = None
    if args.channels is not None:
        H = validate_miso_channels(read_channel_array(args.channels), name=str(args.channels))
    if args.trace_beams < 1:
        raise ConfigError(f"--trace-beams must be >= 1, got {args.trace_beams}")
    transactions: list | None = [] if args.trace else None
    try:
        key = firmware_sim.read_key(args.verify_key) if args.verify_key is not None else None
        report, patterns = firmware_sim.simulate(
            args.bundle, args.calibration, H, args.channels_per_chip, args.chips_per_bus, args.beam_states,
            args.spi_mhz * 1e6, args.pattern_channel, key=key, trace=transactions)
    except firmware_sim.SimulatorError as exc:
        raise ConfigError(str(exc)) from exc
    out = args.out if args.out is not None else args.bundle / "sim"
    stamp(report, "simulation", _bundle_family(args.bundle), None)
    write_result(out / "simulate.json", report)
    plot_beampattern(patterns, out / "beampattern.png", title=f"channel {report['pattern_channel']}, "
                     f"calibration: {report['calibration'] if report['calibration'] == 'ideal' else 'file'}")
    keys = ("code_mismatches", "sum_rate", "sensing", "latency_us", "rejected_transactions")
    print(dumps({k: report[k] for k in keys if k in report}))
    written = "simulate.csv and beampattern.png"
    if transactions is not None:
        from hbf_edge.spi_trace import write_trace_csv, write_trace_vcd

        array = report["array"]
        until = min(args.trace_beams, report["n_beams"]) * report["latency_us"]["direct_switch"] * 1e-6
        write_trace_csv(transactions, out / "trace.csv")  # the direct sequences come first, all equally long
        write_trace_vcd(transactions, out / "trace.vcd", array["spi_hz"], array["buses"], array["chips_per_bus"],
                        until_s=until)
        written = f"simulate.csv, beampattern.png, trace.csv ({len(transactions)} transactions) and trace.vcd"
    print(f"wrote {out / 'simulate.json'}, {written}")
    return 0


# per bundle kind: the replay, the report keys printed, and what the replay takes of the options
_KINDS = {
    "superframe": ("replay_superframe", ("code_mismatches", "analog_writes", "sum_rate", "calibration",
                                         "designed_through_this_calibration", "latency_us", "digital_per_slot",
                                         "rejected_transactions"),
                   "its slots' words were computed on its own channels"),
    "transceiver": ("replay_transceiver", ("code_mismatches", "ser", "calibration", "latency_us",
                                           "rejected_transactions"),
                    "its designs were computed on its own channels"),
}


def _simulate_kind(args: argparse.Namespace, kind: str) -> int:
    """``simulate`` of a superframe (codes programmed once, words per slot) or transceiver bundle
    (K + 1 front ends per design): replayed and scored by the controller."""
    from hbf_edge import firmware_sim
    from hbf_edge._io import dumps
    from hbf_edge.results import stamp, write_result

    replay, keys, why = _KINDS[kind]
    given = [flag for flag, value in (("--channels", args.channels), ("--trace", args.trace)) if value]
    if given:
        raise ConfigError(f"{' and '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to a {kind} "
                          f"bundle ({why})")
    try:
        key = firmware_sim.read_key(args.verify_key) if args.verify_key is not None else None
        report = getattr(firmware_sim, replay)(args.bundle, key, args.channels_per_chip, args.chips_per_bus,
                                               args.spi_mhz * 1e6, calibration=args.calibration)
    except firmware_sim.SimulatorError as exc:
        raise ConfigError(str(exc)) from exc
    out = args.out if args.out is not None else args.bundle / "sim"
    stamp(report, "simulation", _bundle_family(args.bundle), None)
    write_result(out / "simulate.json", report)
    print(dumps({k: report[k] for k in keys}))
    if not report.get("designed_through_this_calibration", True):
        print("note: the slots' words were designed through other front ends than the ones replayed here (see "
              "slots_designed_through): the applied sum rate is not expected to equal the kernel's")
    print(f"wrote {out / 'simulate.json'}")
    return 0


def _cmd_calibration(args: argparse.Namespace) -> int:
    from hbf_edge import firmware_sim
    from hbf_edge._io import atomic_file

    try:
        table = firmware_sim.make_calibration(args.phase_bits, args.phase_error_deg, args.gain_error_db, args.seed)
    except firmware_sim.SimulatorError as exc:
        raise ConfigError(str(exc)) from exc
    with atomic_file(args.out) as tmp:
        tmp.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {args.out}: {table['description']}")
    return 0


def _cmd_firmware(args: argparse.Namespace) -> int:
    from hbf_edge.export import firmware
    from hbf_edge.results import stamp, write_result

    targets = None if args.target is None else [t.strip() for t in args.target.split(",") if t.strip()]
    say = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    report = firmware(args.bundle, targets, args.instructions, say=say)
    out = args.out if args.out is not None else args.bundle / "firmware"
    stamp(report, "firmware", report["family"], None)
    write_result(out / "firmware.json", report)
    for name, r in report["targets"].items():
        if name == "cortex-m4":
            print(f"{name:<11} text {r['text']} B, data {r['data']} B, bss {r['bss']} B, largest stack frame "
                  f"{r['max_stack_frame']} B, no floating-point calls ({r['seconds']} s)")
        else:
            extra = (f", {r['instructions_per_channel']} instructions per channel"
                     if "instructions_per_channel" in r else "")
            print(f"{name:<11} equal to the kernel on {r['channels']} channels: codes, W words, counters "
                  f"({r['compiler']}; {r['seconds']} s){extra}")
    for name, why in report["skipped"].items():
        print(f"{name:<11} skipped: {why}")
    print(f"wrote {out / 'firmware.json'}")
    return 0


def _cmd_keygen(args: argparse.Namespace) -> int:
    from hbf_edge.export import write_key

    print(f"wrote {write_key(args.out)}: a 32-byte key (owner-only file); keep it secret, give it to "
          "`export --sign` and to `simulate --verify-key`")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from hbf_edge.report import render_report

    print(f"wrote {render_report(args.run_dir, args.out)}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from hbf_edge.export import REGISTRY as EXPORTS
    from hbf_edge.quant import REGISTRY as QUANTS
    from hbf_edge.sweep import run_sweep

    def stage(registry: Any) -> Any:
        return lambda family: registry.get(family) if registry.has(family) else None

    run_sweep(args.spec, args.out, stage(QUANTS), stage(EXPORTS), scheduler=args.scheduler, workers=args.workers,
              threads=args.worker_threads, overwrite=args.overwrite, progress=not args.quiet, say=print)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.bench_command == "threads":
        from hbf_edge.threadbench import bench_threads

        if args.repeat < 1:
            raise ConfigError("--repeat must be >= 1")
        _emit_json(bench_threads(tuple(args.commands), args.repeat, progress=not args.quiet), args.out)
        return 0
    if args.bench_command == "onnx":
        from hbf_edge.export.upga.onnx_quant import compare_quant_onnx

        if args.count < 1:
            raise ConfigError("--count must be >= 1")
        _emit_json(compare_quant_onnx(args.model_dir, args.bundle, args.count, args.seed), None)
        return 0
    from hbf_edge.bench import bench_kernels

    for name, values in (("--sizes", args.sizes), ("--batches", args.batches)):
        if any(v < 1 for v in values):
            raise ConfigError(f"{name} must be positive")
    if args.layers < 1 or args.inner < 1 or args.repeat < 1:
        raise ConfigError("--layers, --inner and --repeat must be >= 1")
    import tempfile

    graphs = {}
    with tempfile.TemporaryDirectory(prefix="hbf-bench-") as tmp:
        if "onnxruntime" in (args.backends or ["onnxruntime"]):  # the exporter's float graph of the benched network
            from hbf_edge._bench_cell import bench_network
            from hbf_edge.export.upga.onnx_float import export_float_onnx
            from hbf_edge.hw.spec import HardwareSpec
            from hbf_edge.modelfiles import ModelConfig

            for N in args.sizes:
                net, _, _ = bench_network(args.layers, args.inner, 4, 0)
                config = ModelConfig("upga", HardwareSpec(N, 4, 4, phase_bits=None), args.layers, args.inner)
                graphs[N] = str(export_float_onnx(net, config, Path(tmp) / f"upga_n{N}.onnx"))
        result = bench_kernels(tuple(args.sizes), tuple(args.batches), n_layers=args.layers, n_inner=args.inner,
                               repeat=args.repeat, backends=tuple(args.backends) if args.backends else None,
                               onnx_graphs=graphs or None, progress=not args.quiet)
    _emit_json(result, args.out)
    return 0


_COMMANDS = {"families": _cmd_families, "precision": _cmd_precision, "demo": _cmd_demo, "simulate": _cmd_simulate,
             "calibration": _cmd_calibration, "bench": _cmd_bench, "keygen": _cmd_keygen, "firmware": _cmd_firmware,
             "report": _cmd_report, "sweep": _cmd_sweep}


def run_command(args: argparse.Namespace) -> int:
    """A command that needs no family."""
    return _COMMANDS[args.command](args)
