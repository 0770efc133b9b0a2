"""``hbf-edge channels / train / evaluate / bench`` for the DeepFP family (``deepfp.txt``)."""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from hbf_edge.errors import ConfigError, ModelDirError

__all__ = ["network_from_args", "channels_deepfp", "train_deepfp_cmd", "evaluate_deepfp_cmd", "bench_deepfp_cmd",
           "quantize_deepfp_cmd", "export_deepfp_cmd", "profile_deepfp_cmd",
           "bench_deepfp_kernels_cmd"]

TRAIN_DEFAULTS = dict(layers=8, train_size=2000, epochs=30, batch_size=200, lr=5e-3)


def network_from_args(args: argparse.Namespace) -> Any:
    from hbf_edge.families.deepfp.network import NetworkConfig

    return NetworkConfig(n_cells=args.cells, n_users=args.users_per_cell, n_tx=args.n_antennas, n_rx=args.n_rx,
                         n_streams=args.streams, noise_dbm=args.noise_dbm, fading=args.fading)


def channels_deepfp(args: argparse.Namespace) -> int:
    from hbf_edge.families.deepfp.network import make_dataset, save_dataset

    if args.hybrid is not None:
        from hbf_edge.families.deepfp.hybrid import hybrid_dataset

        data = hybrid_dataset(args.hybrid, args.count, args.snr, args.seed)
    else:
        data = make_dataset(network_from_args(args), args.count, args.seed)
    save_dataset(data, args.out)
    print(f"wrote {args.count} networks {list(data['H'].shape)} (train/val/test {len(data['train'])}/"
          f"{len(data['val'])}/{len(data['test'])}) to {args.out}")
    return 0


def _dataset_split(path: Path, split: str) -> tuple[Any, Any]:
    from hbf_edge.families.deepfp.network import load_dataset

    data = load_dataset(path)
    return data["H"][data[split]], data["config"]


def train_deepfp_cmd(args: argparse.Namespace) -> int:
    from hbf_edge.families.deepfp.train import DeepFPTrainConfig, deepfp_model_config, kept_epoch, train_deepfp
    from hbf_edge.modeldir import save_model
    from hbf_edge.families.deepfp.network import load_dataset, make_dataset

    opts = {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in TRAIN_DEFAULTS.items()}
    if args.out.exists() and not args.overwrite:  # fail before training, not after
        raise ModelDirError(f"{args.out} already exists (pass --overwrite to replace it)")
    if args.channels is not None:
        data = load_dataset(args.channels)
        source = str(args.channels)
    else:
        if opts["train_size"] < 1:
            raise ConfigError(f"--train-size must be >= 1, got {opts['train_size']}")
        data = make_dataset(network_from_args(args), math.ceil(opts["train_size"] / 0.70), args.seed)
        source = f"generated, seed {args.seed}"
    net = data["config"]
    config = DeepFPTrainConfig(n_layers=opts["layers"], hidden=args.hidden, n_streams=net.n_streams,
                               supervised_epochs=args.supervised_epochs, unsupervised_epochs=opts["epochs"],
                               batch_size=opts["batch_size"], lr=opts["lr"], fastfp_iterations=args.fastfp_iterations,
                               seed=args.seed, precision=args.precision, step_base=args.step_base,
                               keep=args.keep)
    H = data["H"]
    t0 = time.perf_counter()
    model, history = train_deepfp(H[data["train"]], H[data["val"]], config, progress=not args.quiet)
    training = {**{k: getattr(config, k) for k in ("supervised_epochs", "unsupervised_epochs", "batch_size", "lr",
                                                    "fastfp_iterations", "seed", "precision", "step_base", "keep")},
                "train_size": int(len(data["train"])), "val_size": int(len(data["val"])), "channels": source,
                "wall_seconds": round(time.perf_counter() - t0, 2)}
    save_model(model, deepfp_model_config(model, net, training, history), args.out, overwrite=args.overwrite)
    kept = kept_epoch(history)
    print(f"trained deepfp L={config.n_layers} ({net.n_cells} cell(s), N_t={net.n_tx}, N_r={net.n_rx}, "
          f"K={net.n_users}, d={net.n_streams}) in {training['wall_seconds']} s; kept epoch {kept['epoch']} of "
          f"{len(history)}, validation WSR {kept['val_wsr']:.3f} bit/s/Hz; model written to {args.out}")
    return 0


def _table_figures(args: argparse.Namespace) -> dict[str, Any]:
    """Load the model and its test channels and run :func:`hbf_edge.families.deepfp.evaluate.evaluate_deepfp`."""
    from hbf_edge.quant.deepfp.qat import load_deepfp

    from hbf_edge.families.deepfp.evaluate import evaluate_deepfp
    from hbf_edge.families.deepfp.network import NetworkConfig

    model, config = load_deepfp(args.model_dir)
    net = NetworkConfig.from_dict(config.deepfp["network"])
    H = _networks(args, net, "test", args.test_size, args.test_seed, "--test-size")
    for name in ("fastfp_iterations", "time_samples"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1")
    baselines = args.baselines if args.baselines is not None else (["ezf", "wmmse_sc"] if H.shape[1] == 1 else ["ezf"])
    results = evaluate_deepfp(model, H, args.fastfp_iterations, seed=args.test_seed, time_samples=args.time_samples,
                              baselines=tuple(baselines), progress=not getattr(args, "quiet", True))
    results["model_dir"] = str(args.model_dir)
    return results


def format_table(results: dict[str, Any]) -> str:
    """The paper's Table I/II layout: WSR and CPU time, each with its percentage of FastFP-100."""
    lines = [f"{'algorithm':<26} {'WSR (bit/s/Hz)':>18} {'CPU time (ms/channel)':>24}"]
    for r in results["rows"]:
        name = r["method"] + (f" ({r['iterations']} iterations)" if r["method"] == "FastFP" else "")
        lines.append(f"{name:<26} {r['wsr']:9.3f} ({r['wsr_percent']:5.1f}%) "
                     f"{1e3 * r['cpu_s_per_channel']:12.2f} ({r['cpu_percent']:5.1f}%)")
    return "\n".join(lines)


def evaluate_deepfp_cmd(args: argparse.Namespace, out: Path) -> int:
    from hbf_edge._io import atomic_file
    from hbf_edge.families.deepfp.plots import plot_deepfp_cdf, plot_deepfp_convergence

    if args.compare or args.dump is not None:
        raise ConfigError("--compare and --dump are not available for deepfp models")
    results = _table_figures(args)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    plot_deepfp_convergence(results, out / "wsr_vs_iterations.png")
    plot_deepfp_cdf(results, out / "wsr_cdf.png")
    print(f"{results['n_channels']} held-out networks, {results['n_cells']} cell(s); CPU time on "
          f"{results['time_samples']} of them, batch {results['batch']}:")
    print(format_table(results))
    prof = results["per_layer_cpu_ms"]
    print("per layer (CPU ms per network): " + ", ".join(f"{k} {v:.3f}" for k, v in prof.items()))
    print(f"wrote {out / 'results.json'}, wsr_vs_iterations.png, wsr_cdf.png")
    return 0


def bench_deepfp_cmd(args: argparse.Namespace) -> int:
    from hbf_edge.cli._json import emit_json

    results = _table_figures(args)
    results.pop("per_channel")
    return emit_json(results, args.out)


def bench_deepfp_kernels_cmd(args: argparse.Namespace) -> int:
    from hbf_edge.quant.deepfp.agreement import kernel_agreement
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.families.deepfp.network import NetworkConfig
    from hbf_edge.cli._json import emit_json

    config, _ = read_model_dir(args.model_dir)
    if config.family != "deepfp":
        raise ConfigError(f"{args.model_dir} holds a {config.family} model, not deepfp")
    H = _networks(args, NetworkConfig.from_dict(config.deepfp["network"]), "test", args.test_size, args.test_seed,
                  "--test-size")
    return emit_json(kernel_agreement(args.model_dir, H, seed=args.test_seed), args.out)


def _networks(args: argparse.Namespace, net: Any, split: str, size: int, seed: int, option: str) -> Any:
    """``split`` of ``--channels`` (checked against the model's network) or ``size`` fresh ones."""
    from hbf_edge.families.deepfp.network import generate_channels

    if args.channels is not None:
        H, net_data = _dataset_split(args.channels, split)
        if (net_data.n_cells, net_data.n_users, net_data.n_tx, net_data.n_rx) != (net.n_cells, net.n_users, net.n_tx,
                                                                                  net.n_rx):
            raise ConfigError(f"{args.channels} holds another network than the model was trained for")
        return H
    if size < 1:
        raise ConfigError(f"{option} must be >= 1, got {size}")
    return generate_channels(net, size, seed=seed)


def quantize_deepfp_cmd(args: argparse.Namespace) -> int:
    """QAT (or PTQ) of a float DeepFP model: 8-bit DNNs, fixed-point V; OUT/retention.json."""
    from hbf_edge.quant.deepfp.qat import mean_wsr, qat_deepfp, save_quant_deepfp

    from hbf_edge._io import atomic_file
    from hbf_edge.modeldir import load_model
    from hbf_edge.families.deepfp.network import NetworkConfig

    model, config = load_model(args.model_dir, family="deepfp")
    if config.quantization is not None:
        raise ConfigError(f"{args.model_dir} is already quantized; quantize its float model")
    if args.out.exists() and not args.overwrite:
        raise ModelDirError(f"{args.out} already exists (pass --overwrite to replace it)")
    if args.epochs < 0:
        raise ConfigError(f"--epochs must be >= 0, got {args.epochs}")
    net = NetworkConfig.from_dict(config.deepfp["network"])
    H_train = _networks(args, net, "train", args.train_size, args.seed, "--train-size")
    H_val = _networks(args, net, "val", max(1, args.train_size // 5), args.seed + 1, "--train-size")
    H_test = _networks(args, net, "test", args.test_size, args.test_seed, "--test-size")
    epochs = 0 if args.method == "ptq" else args.epochs
    lr = 1e-3 if args.lr is None else args.lr
    batch = 200 if args.batch_size is None else args.batch_size
    t0 = time.perf_counter()
    qmodel, history = qat_deepfp(model, H_train, H_val, epochs, lr, args.dnn_bits, args.v_bits, batch, args.seed,
                                 progress=not args.quiet)
    wall = round(time.perf_counter() - t0, 2)
    float_wsr = mean_wsr(model, H_test, args.test_seed)
    quant_wsr = mean_wsr(qmodel, H_test, args.test_seed)
    report = {"method": args.method, "dnn_bits": args.dnn_bits, "v_bits": args.v_bits, "epochs": epochs, "lr": lr,
              "train_size": int(H_train.shape[0]), "test_size": int(H_test.shape[0]), "wall_seconds": wall,
              "float_wsr": float(float_wsr.mean()), "quantized_wsr": float(quant_wsr.mean()),
              "retention": float(quant_wsr.mean() / float_wsr.mean()), "history": history}
    settings = {k: report[k] for k in ("method", "epochs", "lr", "train_size", "wall_seconds", "retention")}
    save_quant_deepfp(qmodel, config, {**settings, "float_model": str(args.model_dir)}, args.out,
                      overwrite=args.overwrite)
    with atomic_file(args.out / "retention.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.method} deepfp, {args.dnn_bits}-bit DNNs, {args.v_bits}-bit V, in {wall} s: WSR "
          f"{report['quantized_wsr']:.3f} vs float {report['float_wsr']:.3f} bit/s/Hz on {report['test_size']} "
          f"held-out networks ({report['retention']:.2%}); model written to {args.out}")
    return 0


def export_deepfp_cmd(args: argparse.Namespace, config: Any) -> int:
    """``hbf-edge export`` of a DeepFP model: whole-network ONNX (+ QCDQ DNNs), designs, manifest."""
    if args.hybrid is not None:
        from hbf_edge.export.deepfp.hybrid import write_hybrid_bundle

        path = write_hybrid_bundle(args.model_dir, args.hybrid, args.out, seed=args.seed, overwrite=args.overwrite)
        h = json.loads((path / "manifest.json").read_text())["hybrid"]
        r = h["mean_sum_rate"]
        print(f"hybrid bundle written to {path} (DeepFP {h['deepfp_mode']} on {args.hybrid}'s codes): mean sum rate "
              f"{r['deepfp_words']:.3f} bit/s/Hz with DeepFP's W words, {r['pga_w']:.3f} with the UPGA bundle's W, "
              f"{r['fastfp_100']:.3f} with FastFP-100; {h['saturated_w_words']} saturated W words")
        return 0
    from hbf_edge.export.deepfp.bundle import write_deepfp_bundle

    from hbf_edge.families.deepfp.network import NetworkConfig

    net = NetworkConfig.from_dict(config.deepfp["network"])
    H = _networks(args, net, "test", args.count, args.seed, "--count")
    path = write_deepfp_bundle(args.model_dir, args.out, H, seed=args.seed, overwrite=args.overwrite)
    print(f"bundle written to {path}: {', '.join(sorted(p.name for p in path.iterdir()))}")
    return 0


def profile_deepfp_cmd(args: argparse.Namespace, target: dict[str, Any]) -> int:
    """``hbf-edge profile`` of a DeepFP model: per-layer latency per backend, the stage split of
    torch eager, MAC counts and the target estimate; OUT/profile.json and OUT/profile.png."""
    from hbf_edge._io import atomic_file
    from hbf_edge.families.deepfp.plots import plot_deepfp_profile
    from hbf_edge.families.deepfp.profile import DEEPFP_BACKENDS, profile_deepfp

    backends = tuple(args.backends) if args.backends is not None else DEEPFP_BACKENDS
    batches = tuple(args.batches) if args.batches is not None else (1, 16)
    from hbf_edge.quant.deepfp.qat import load_deepfp as load_torch

    result = profile_deepfp(args.model_dir, batches, args.repeat, backends=backends, target=target,
                            load_torch=load_torch)
    out = args.out if args.out is not None else args.model_dir / "profile"
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "profile.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    plot_deepfp_profile(result, out / "profile.png")
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    m = result["macs"]
    print(f"DeepFP L={result['I']}: {m['layer']:,} real MACs per layer and network (FP state {m['fp_state']:,}, "
          f"DNN {m['dnn']:,}, update {m['update']:,}); microseconds per network (whole forward / mean layer)")
    for batch, row in result["measured"].items():
        cells = [f"{name} {r['whole_us_per_channel']:.0f} / {r['layer_us_per_channel']:.0f}" for name, r in row.items()]
        print(f"batch {batch}: " + ", ".join(cells))
        if "torch_eager" in row:
            layers = row["torch_eager"]["layers"]
            stages = {k: sum(r[k] for r in layers) / len(layers) for k in ("fp_state", "dnn", "update")}
            print("  torch eager per layer: " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))
    for name, why in result.get("skipped", {}).items():
        print(f"{name} skipped: {why}")
    t = result["target"]
    print(f"target {t['name']}: {t['stages']['layer']['us']} us per layer, {t['layers_total_us']} us for the "
          f"{result['I']} layers (estimate)")
    print(f"wrote {out / 'profile.json'} and profile.png")
    return 0
