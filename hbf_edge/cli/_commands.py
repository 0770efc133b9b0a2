"""The commands of ``hbf-edge``: each turns parsed arguments into library calls."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from hbf_edge.errors import ConfigError, HbfEdgeError, ModelDirError
from hbf_edge.cli._parser import DEFAULT_SNRS, DEFAULT_TEST_SEED
from hbf_edge.cli._quant import cmd_quantize, cmd_study


def _load_channels(path: Path, n_antennas: int | None = None, n_users: int | None = None) -> Any:
    from hbf_edge.channels import ChannelDataset, validate_miso_channels

    ds = ChannelDataset.load(path)
    if ds.model != "saleh_valenzuela":
        raise HbfEdgeError(f"{path} holds {ds.model} channels; UPGA needs MISO channels [B, N, K]")
    return validate_miso_channels(ds.H, n_antennas, n_users, name=str(path))


def _cmd_channels(args: argparse.Namespace) -> int:
    from hbf_edge.channels import make_dataset

    if args.model == "deepfp":
        from hbf_edge.cli._deepfp import channels_deepfp

        return channels_deepfp(args)
    if args.hybrid is not None:
        raise ConfigError("--hybrid makes DeepFP problems: use it with --model deepfp")
    ds = make_dataset("saleh_valenzuela", n_channels=args.count, n_antennas=args.n_antennas,
                      n_users=args.n_users, n_paths=args.paths, seed=args.seed)
    path = ds.save(args.out)
    print(f"wrote {len(ds)} channels [{args.count}, {args.n_antennas}, {args.n_users}] to {path}")
    return 0


# per-family defaults of the options the parser leaves unset (the papers' settings, except
# UPGANet's initial steps and relative learning rate: README, "UPGANet (JCAS)")
_TRAIN_DEFAULTS = {
    "upga": dict(layers=10, inner=1, train_size=500, epochs=20, batch_size=10, lr=1e-3, snr_min=-10.0,
                 snr_max=20.0, mu0=0.01, lambda0=1e-4, layer_loss="uniform"),
    "upganet": dict(layers=20, inner=10, train_size=1000, epochs=10, batch_size=50, lr=0.02, snr_min=0.0,
                    snr_max=12.0, mu0=0.3, lambda0=2e-4, layer_loss="last"),
}


def _cmd_train(args: argparse.Namespace) -> int:
    from hbf_edge.modeldir import save_model
    from hbf_edge.training import TrainConfig, train_upga, train_upganet

    if args.model == "deepfp":
        from hbf_edge.cli._deepfp import train_deepfp_cmd

        return train_deepfp_cmd(args)
    opts = {k: (getattr(args, k) if getattr(args, k) is not None else v)
            for k, v in _TRAIN_DEFAULTS[args.model].items()}
    settings = dict(
        n_antennas=args.n_antennas, n_rf=args.n_rf, n_users=args.n_users, n_paths=args.paths,
        n_layers=opts["layers"], n_inner=opts["inner"], train_size=opts["train_size"], epochs=opts["epochs"],
        batch_size=opts["batch_size"], lr=opts["lr"], lr_decay=args.lr_decay, snr_db_min=opts["snr_min"],
        snr_db_max=opts["snr_max"], mu0=opts["mu0"], lambda0=opts["lambda0"], layer_loss=opts["layer_loss"],
        seed=args.seed, precision=args.precision,
    )
    out = args.out
    if out.exists() and not args.overwrite:  # fail before training, not after
        raise ModelDirError(f"{out} already exists (pass --overwrite to replace it)")
    H = None
    if args.channels is not None:
        H = _load_channels(args.channels, settings["n_antennas"], settings["n_users"])
        settings["train_size"] = int(H.shape[0])
    config = TrainConfig(**settings)
    t0 = time.perf_counter()
    if args.model == "upganet":
        from hbf_edge.families.upganet.sensing import SensingScenario

        scenario = SensingScenario(tuple(args.targets), args.delta, omega=args.omega)
        model, model_config = train_upganet(config, scenario, H, progress=not args.quiet)
    else:
        model, model_config = train_upga(config, H, progress=not args.quiet)
    model_config.training["wall_seconds"] = round(time.perf_counter() - t0, 2)
    save_model(model, model_config, out, overwrite=args.overwrite)
    last = model_config.history[-1]
    print(f"trained {args.model} I={config.n_layers} J={config.n_inner} in {model_config.training['wall_seconds']} s; "
          f"final epoch loss {last['loss']:.4f}; model written to {out}")
    return 0


def _format_table(results: dict[str, Any]) -> str:
    methods = list(results["sum_rate"])
    lines = ["SNR dB | " + " | ".join(f"{m:>7}" for m in methods)]
    for i, snr in enumerate(results["snr_db"]):
        lines.append(f"{snr:6g} | " + " | ".join(f"{results['sum_rate'][m][i]:7.3f}" for m in methods))
    return "\n".join(lines)


def _evaluate(model_dir: Path, out: Path, H: Any | None, snrs: list[float], noise: float,
              dump: Path | None, quiet: bool, test_size: int = 1000,
              test_seed: int = DEFAULT_TEST_SEED) -> dict[str, Any]:
    """Evaluate a model directory; ``H=None`` draws held-out channels like the training ones."""
    from hbf_edge._io import atomic_file
    from hbf_edge.channels import saleh_valenzuela_miso, validate_miso_channels
    from hbf_edge.families.upga.evaluate import evaluate, write_dump
    from hbf_edge.modeldir import load_model
    from hbf_edge.plots import plot_rate_vs_layers, plot_rate_vs_snr

    model, config = load_model(model_dir)
    spec = config.spec
    if H is None:
        n_paths = int(config.training.get("n_paths", 10))
        H = saleh_valenzuela_miso(test_size, spec.n_antennas, spec.n_users, n_paths, seed=test_seed)
    # the network runs on any N, but its step sizes were learned for the configured sizes
    H = validate_miso_channels(H, spec.n_antennas, spec.n_users, name="evaluation channels")
    t0 = time.perf_counter()
    results, precoders = evaluate(model, H, snrs, noise, keep_precoders=dump is not None, progress=not quiet)
    results["wall_seconds"] = round(time.perf_counter() - t0, 2)
    results["model_dir"] = str(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    plot_rate_vs_snr(results, out / "rate_vs_snr.png")
    plot_rate_vs_layers(results, out / "rate_vs_layers.png")
    if dump is not None:
        write_dump(dump, H, snrs, noise, precoders)
    print("mean sum rate (bit/s/Hz) on", results["n_channels"], "held-out channels:")
    print(_format_table(results))
    print(f"wrote {out / 'results.json'}, rate_vs_snr.png, rate_vs_layers.png" + (f", {dump}" if dump else ""))
    return results


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from hbf_edge.modelfiles import read_model_dir

    out = args.out if args.out is not None else args.model_dir / "eval"
    family = read_model_dir(args.model_dir)[0].family
    if family == "deepfp":
        from hbf_edge.cli._deepfp import evaluate_deepfp_cmd

        return evaluate_deepfp_cmd(args, out)
    H = None if args.channels is None else _load_channels(args.channels)
    if family == "upganet":
        from hbf_edge.cli._upganet import evaluate_upganet

        evaluate_upganet(args, out, H)
        return 0
    if args.compare:
        raise ConfigError("--compare is for upganet models")
    snrs = list(args.snr) if args.snr is not None else DEFAULT_SNRS
    _evaluate(args.model_dir, out, H, snrs, args.noise, args.dump, args.quiet, args.test_size, args.test_seed)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from hbf_edge.demo import run_demo

    t0 = time.perf_counter()
    summary = run_demo(args.out, quick=args.quick, progress=not args.quiet, log=print)
    ret = summary["retention"]
    print(f"QAT Q={ret['phase_bits']}: {ret['retention']['quantized'][0]:.2%} of float at 10 dB, "
          f"{ret['retention']['quantized'][1]:.2%} at 20 dB; simulated front end: "
          f"{summary['simulation']['code_mismatches']['direct']} code mismatches")
    print(f"demo finished in {time.perf_counter() - t0:.1f} s; report: {args.out / 'report.md'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from hbf_edge.export import write_bundle

    from hbf_edge.channels import saleh_valenzuela_miso
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(args.model_dir)
    if config.family == "deepfp":
        from hbf_edge.cli._deepfp import export_deepfp_cmd

        return export_deepfp_cmd(args, config)
    if args.hybrid is not None:
        raise ConfigError("--hybrid exports a DeepFP model as the digital stage of a UPGA bundle; "
                          f"{args.model_dir} holds a {config.family} model")
    spec = config.spec
    if args.channels is not None:
        H = _load_channels(args.channels, spec.n_antennas, spec.n_users)
    else:
        if args.count < 1:
            raise ConfigError("--count must be >= 1")
        n_paths = int(config.training.get("n_paths", 10))
        H = saleh_valenzuela_miso(args.count, spec.n_antennas, spec.n_users, n_paths, seed=args.seed)
    path = write_bundle(args.model_dir, args.out, H, snr_db=args.snr, overwrite=args.overwrite)
    files = sorted(p.name for p in path.iterdir())
    print(f"bundle written to {path}: {', '.join(files)}")
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from hbf_edge import firmware_sim

    from hbf_edge._io import atomic_file
    from hbf_edge.plots import plot_beampattern

    H = None
    if args.channels is not None:
        H = _load_channels(args.channels)
    if args.spi_mhz <= 0:
        raise ConfigError("--spi-mhz must be > 0")
    try:
        report, patterns = firmware_sim.simulate(
            args.bundle, args.calibration, H, args.channels_per_chip, args.chips_per_bus, args.beam_states,
            args.spi_mhz * 1e6, args.pattern_channel)
    except firmware_sim.SimulatorError as exc:
        raise ConfigError(str(exc)) from exc
    out = args.out if args.out is not None else args.bundle / "sim"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "simulate.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    plot_beampattern(patterns, out / "beampattern.png", title=f"channel {report['pattern_channel']}, "
                     f"calibration: {report['calibration'] if report['calibration'] == 'ideal' else 'file'}")
    keys = ("code_mismatches", "sum_rate", "sensing", "latency_us", "rejected_transactions")
    print(json.dumps({k: report[k] for k in keys if k in report}, indent=2))
    print(f"wrote {out / 'simulate.json'} and beampattern.png")
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


def _cmd_profile(args: argparse.Namespace) -> int:
    from hbf_edge._io import atomic_file
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.plots import plot_profile
    from hbf_edge.profile import format_profile, load_target, profile_model

    target_path = Path(args.target)
    if not target_path.suffix:
        target_path = Path(__file__).resolve().parent.parent / "targets" / f"{args.target}.toml"
        if not target_path.is_file():
            raise ConfigError(f"unknown example target {args.target!r}: use dsp, mcu or a .toml file")
    target = load_target(target_path)
    family = read_model_dir(args.model_dir)[0].family
    if family == "deepfp":
        from hbf_edge.cli._deepfp import profile_deepfp_cmd

        return profile_deepfp_cmd(args, target)
    if args.backends is None:
        args.backends = ["numba_float64", "numba_float32", "numba_hardware", "torch_eager", "onnxruntime"]
    if args.batches is None:
        args.batches = [1, 256]
    if family == "upganet":
        from hbf_edge.cli._upganet import profile_upganet_cmd

        profile_upganet_cmd(args, target)
        return 0

    from hbf_edge.export.upga.profile import onnxruntime_stages

    result = profile_model(args.model_dir, tuple(args.batches), tuple(args.backends), args.repeat, target=target,
                           progress=not args.quiet, onnxruntime=onnxruntime_stages)
    out = args.out if args.out is not None else args.model_dir / "profile"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "profile.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    plot_profile(result, str(max(args.batches)), out / "profile.png")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for b in result["measured"]:
            print(format_profile(result, b))
        print(f"wrote {out / 'profile.json'} and profile.png")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from hbf_edge.bench import bench_kernels
    from hbf_edge.cli._json import emit_json

    if args.bench_command == "onnx":
        from hbf_edge.export.upga.onnx_quant import compare_quant_onnx

        if args.count < 1:
            raise ConfigError("--count must be >= 1")
        print(json.dumps(compare_quant_onnx(args.model_dir, args.bundle, args.count, args.seed), indent=2))
        return 0
    if args.bench_command in ("deepfp", "deepfp-kernels"):
        from hbf_edge.cli._deepfp import bench_deepfp_cmd, bench_deepfp_kernels_cmd

        return bench_deepfp_cmd(args) if args.bench_command == "deepfp" else bench_deepfp_kernels_cmd(args)
    if args.bench_command == "upganet":
        from hbf_edge.families.upganet.profile import profile_upganet

        kernels_only = ("numba_float64", "numba_float32", "numba_hardware", "torch_eager")  # no ONNX export
        return emit_json(profile_upganet(args.model_dir, tuple(args.batches), args.repeat, backends=kernels_only),
                         args.out)
    for name, values in (("--sizes", args.sizes), ("--batches", args.batches)):
        if any(v < 1 for v in values):
            raise ConfigError(f"{name} must be positive")
    if args.layers < 1 or args.inner < 1 or args.repeat < 1:
        raise ConfigError("--layers, --inner and --repeat must be >= 1")
    result = bench_kernels(tuple(args.sizes), tuple(args.batches), n_layers=args.layers, n_inner=args.inner,
                           repeat=args.repeat, onnx_model=args.onnx, progress=not args.quiet)
    return emit_json(result, args.out)


COMMANDS = {"channels": _cmd_channels, "train": _cmd_train, "evaluate": _cmd_evaluate, "demo": _cmd_demo,
            "bench": _cmd_bench, "quantize": cmd_quantize, "study": cmd_study, "export": _cmd_export,
            "simulate": _cmd_simulate, "calibration": _cmd_calibration, "profile": _cmd_profile}
