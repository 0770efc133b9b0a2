"""``hbf-edge evaluate`` for UPGANet (JCAS) model directories: tables, results.json and plots."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from hbf_edge.errors import ConfigError

JCAS_SNRS = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]


def _sizes(config: Any) -> tuple[int, int, int]:
    return config.spec.n_antennas, config.spec.n_rf, config.spec.n_users


def _name(config: Any) -> str:
    q = f"_q{config.precision['phase_bits']}" if config.precision is not None else ""
    return f"upganet_j{config.n_inner}{q}"


def evaluate_upganet(args: argparse.Namespace, out: Path, H: Any | None) -> dict[str, Any]:
    """Evaluate MODEL_DIR and every ``--compare`` model against conventional PGA and digital ZF:
    rate / MSE / objective vs SNR, convergence at the highest SNR, average beampatterns."""
    from hbf_edge._io import atomic_file
    from hbf_edge.channels import saleh_valenzuela_miso, validate_miso_channels
    from hbf_edge.families.upganet.evaluate import average_beampatterns, convergence_jcas, evaluate_jcas
    from hbf_edge.modeldir import load_model
    from hbf_edge.families.upganet.plots import plot_jcas_beampattern, plot_jcas_convergence, plot_jcas_vs_snr

    if args.dump is not None:
        raise ConfigError("--dump is not available for upganet models")
    if args.iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
    models: dict[str, Any] = {}
    first = None
    for path in [args.model_dir, *args.compare]:
        model, config = load_model(path, family="upganet")
        if config.precision is not None:  # a quantized model runs through its quantized network
            from hbf_edge.quant.upganet.qat import load_quant_upganet

            model = load_quant_upganet(model, config)
        first = first or config
        if _sizes(config) != _sizes(first):  # phase bits may differ: quantized and float compare
            raise ConfigError(f"{path} has other sizes than {args.model_dir}")
        name = _name(config)
        while name in models:
            name += "'"
        models[name] = model
    spec = first.spec
    if H is None:
        n_paths = int(first.training.get("n_paths", 10))
        H = saleh_valenzuela_miso(args.test_size, spec.n_antennas, spec.n_users, n_paths, seed=args.test_seed)
    H = validate_miso_channels(H, spec.n_antennas, spec.n_users, name="evaluation channels")
    snrs = list(args.snr) if args.snr is not None else JCAS_SNRS
    t0 = time.perf_counter()
    results = evaluate_jcas(models, H, snrs, args.noise, progress=not args.quiet)
    top = max(snrs)
    tuned = (float(first.training["mu0"]), float(first.training["lambda0"]))
    results["convergence"] = convergence_jcas(models, H, top, args.iterations, noise=args.noise, tuned_steps=tuned)
    results["beampattern"] = average_beampatterns(models, H, top, args.noise)
    results["wall_seconds"] = round(time.perf_counter() - t0, 2)
    results["model_dirs"] = {name: str(p) for name, p in zip(models, [args.model_dir, *args.compare])}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    plot_jcas_vs_snr(results, out / "jcas_vs_snr.png")
    plot_jcas_convergence(results["convergence"], out / "convergence.png")
    plot_jcas_beampattern(results["beampattern"], out / "beampattern.png")
    methods = list(results["sum_rate"])
    print(f"JCAS on {results['n_channels']} held-out channels (omega={results['omega']}); "
          f"PGA: J=1, fixed steps 0.01, {results['pga_layers']} iterations")
    for key, title in (("sum_rate", "sum rate (bit/s/Hz)"), ("mse_db", "beampattern MSE (dB)"),
                       ("objective", "R - omega tau")):
        print(f"{title}:")
        print("SNR dB | " + " | ".join(f"{m:>12}" for m in methods))
        for i, snr in enumerate(results["snr_db"]):
            print(f"{snr:6g} | " + " | ".join(f"{results[key][m][i]:12.3f}" for m in methods))
    conv = results["convergence"]
    print(f"objective peak (outer layer) at {conv['snr_db']:g} dB: "
          + ", ".join(f"{k} {v}" for k, v in conv["peak_layer"].items()))
    print(f"wrote {out / 'results.json'}, jcas_vs_snr.png, convergence.png, beampattern.png "
          f"in {results['wall_seconds']} s")
    return results


def quantize_upganet(args: argparse.Namespace) -> dict[str, Any]:
    """``hbf-edge quantize`` of a UPGANet model: QAT (or PTQ) for Q-bit phases and a B-bit W;
    writes the model directory and OUT/retention.json (float, PTQ, quantized: rate and MSE)."""
    import dataclasses

    from hbf_edge.quant.upganet.qat import QuantUPGANet, jcas_retention, train_qat_upganet

    from hbf_edge._io import atomic_file
    from hbf_edge.channels import saleh_valenzuela_miso
    from hbf_edge.families.upganet.evaluate import evaluate_jcas_hardware
    from hbf_edge.errors import ModelDirError
    from hbf_edge.modeldir import load_model
    from hbf_edge.modelfiles import write_model_dir
    from hbf_edge.training import TrainConfig
    from hbf_edge.cli._quant import precoder_format

    if args.precision is not None:
        raise ConfigError("--precision files (per-layer formats) are for upga models; use -Q and -B")
    model, config = load_model(args.model_dir, family="upganet")
    if config.precision is not None:
        raise ConfigError(f"{args.model_dir} is already quantized; quantize its float model")
    if args.out.exists() and not args.overwrite:
        raise ModelDirError(f"{args.out} already exists (pass --overwrite to replace it)")
    fmt = precoder_format(args.precoder_bits)
    spec = config.spec
    n_paths = int(config.training.get("n_paths", 10))
    t0 = time.perf_counter()
    if args.method == "qat":
        loop = TrainConfig(n_antennas=spec.n_antennas, n_rf=spec.n_rf, n_users=spec.n_users, n_paths=n_paths,
                           n_layers=config.n_layers, n_inner=config.n_inner, train_size=args.train_size,
                           epochs=args.epochs, batch_size=args.batch_size or 50, lr=args.lr or 1e-2,
                           lr_decay=args.lr_decay, snr_db_min=0.0 if args.snr_min is None else args.snr_min,
                           snr_db_max=12.0 if args.snr_max is None else args.snr_max, seed=args.seed,
                           layer_loss="last")
        qmodel, qconfig = train_qat_upganet(model, config, args.phase_bits, fmt, loop, progress=not args.quiet)
    else:
        qmodel = QuantUPGANet(model, args.phase_bits, fmt)
        qconfig = dataclasses.replace(config, spec=spec.replace(phase_bits=args.phase_bits),
                                      precision={"phase_bits": args.phase_bits, "precoder": dataclasses.asdict(fmt)},
                                      quantization={"method": "ptq"})
    qconfig.quantization["wall_seconds"] = round(time.perf_counter() - t0, 2)
    arrays = {k: getattr(qmodel, k).detach().numpy() for k in ("mu", "lam", "psi_re", "psi_im")}
    write_model_dir(args.out, qconfig, arrays, overwrite=args.overwrite)
    snrs = list(args.snr) if args.snr is not None else [0.0, 6.0, 12.0]
    H = saleh_valenzuela_miso(args.test_size, spec.n_antennas, spec.n_users, n_paths, seed=args.test_seed)
    result = jcas_retention(model, qmodel, H, snrs)
    result["method"] = args.method
    hw = evaluate_jcas_hardware(args.out, H, snrs)
    result["hardware"] = hw  # the bit-accurate kernel on the written model
    result["retention"]["hardware"] = [q / f for q, f in zip(hw["sum_rate"], result["sum_rate"]["float"])]
    result["mse_delta_db"]["hardware"] = [q - f for q, f in zip(hw["mse_db"], result["mse_db"]["float"])]
    with atomic_file(args.out / "retention.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.method.upper()} UPGANet Q={args.phase_bits}, W {args.precoder_bits} bits in "
          f"{qconfig.quantization['wall_seconds']} s; model written to {args.out}")
    print(f"{result['n_channels']} held-out channels: sum rate (retention) and beampattern MSE dB (change vs float)")
    print("SNR dB |   float rate, MSE |     PTQ rate, MSE |   {:>5} rate, MSE | hardware kernel rate, MSE"
          .format(args.method.upper()))
    for i, snr in enumerate(result["snr_db"]):
        r, d = result["sum_rate"], result["mse_db"]
        r, d = {**r, "hardware": hw["sum_rate"]}, {**d, "hardware": hw["mse_db"]}
        cells = [f"{r['float'][i]:7.3f}, {d['float'][i]:6.2f}"]
        for m in ("ptq", "qat", "hardware"):
            cells.append(f"{r[m][i]:7.3f} ({result['retention'][m][i]:.1%}), {d[m][i]:6.2f} "
                         f"({result['mse_delta_db'][m][i]:+.2f})")
        print(f"{snr:6g} | " + " | ".join(cells))
    print(f"hardware kernel overflow events: {sum(hw['overflows'])}")
    return result


def profile_upganet_cmd(args: argparse.Namespace, target: dict[str, Any]) -> dict[str, Any]:
    """``hbf-edge profile`` of a UPGANet model: per-layer latency per backend and the target
    estimate (:mod:`hbf_edge.families.upganet.profile`), OUT/profile.json and OUT/profile.png."""
    from hbf_edge._io import atomic_file
    from hbf_edge.families.upganet.plots import plot_jcas_profile
    from hbf_edge.families.upganet.profile import profile_upganet

    from hbf_edge.export.upga.profile import onnxruntime_stages

    result = profile_upganet(args.model_dir, tuple(args.batches), args.repeat, backends=tuple(args.backends),
                             target=target, onnxruntime=onnxruntime_stages)
    out = args.out if args.out is not None else args.model_dir / "profile"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "profile.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    plot_jcas_profile(result, out / "profile.png")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"UPGANet I={result['I']} J={result['J']}: {result['macs']['layer']:,} real MACs per layer; "
              "microseconds per channel (whole forward / per layer)")
        for batch, row in result["measured"].items():
            cells = []
            for name, r in row.items():
                if name == "torch_eager":
                    layers = [v for k, v in r["stages_us_per_channel"].items() if k != "init"]
                    per_layer = sum(layers) / len(layers)
                else:
                    per_layer = r["layer_us_per_channel"]
                cells.append(f"{name} {r['whole_us_per_channel']:.0f} / {per_layer:.0f}")
            print(f"batch {batch}: " + ", ".join(cells))
        t = result["target"]
        print(f"target {t['name']}: {t['layer']['us']} us per layer, {t['layers_total_us']} us for the "
              f"{result['I']} layers (estimate)")
        print(f"wrote {out / 'profile.json'} and profile.png")
    return result
