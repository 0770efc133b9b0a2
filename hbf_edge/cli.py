"""Command line: a thin layer over the library.  ``hbf-edge --help`` lists the commands.

Library errors (:class:`hbf_edge.errors.HbfEdgeError`) become a one-line message on stderr and
exit code 2; argparse usage errors also exit with 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import __version__
from .errors import ConfigError, HbfEdgeError, ModelDirError

__all__ = ["main", "build_parser"]

DEFAULT_SNRS = [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]
DEFAULT_TEST_SEED = 2026  # differs from the default training seed (0): held-out channels


def _add_size_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("system size")
    g.add_argument("--n-antennas", "-N", type=int, default=64, help="transmit antennas N (default 64)")
    g.add_argument("--n-rf", "-M", type=int, default=4, help="RF chains M, >= K (default 4)")
    g.add_argument("--n-users", "-K", type=int, default=4, help="single-antenna users K (default 4)")
    g.add_argument("--paths", type=int, default=10, help="Saleh-Valenzuela paths per user P (default 10)")


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hbf-edge",
        description="Hardware-aware deployment toolkit for deep-unfolded hybrid beamformers.",
    )
    parser.add_argument("--version", action="version", version=f"hbf-edge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("channels", help="generate a seeded channel dataset (.npz)",
                       description="Generate Saleh-Valenzuela MISO channels (UPGA paper eq. 2-3) "
                                   "and save them with their parameters.")
    p.add_argument("--out", required=True, type=Path, help="output .npz file")
    p.add_argument("--count", type=int, default=1000, help="number of channels (default 1000)")
    p.add_argument("--seed", type=int, default=DEFAULT_TEST_SEED, help=f"random seed (default {DEFAULT_TEST_SEED})")
    _add_size_args(p)

    p = sub.add_parser("train", help="train an unfolded PGA (UPGA) model in float",
                       description="Train UPGA (Algorithm 1 unfolded, trainable mu [I x J] and lambda [I]) "
                                   "unsupervised on the sum rate; write a model directory.")
    p.add_argument("--out", required=True, type=Path, help="model directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    p.add_argument("--channels", type=Path, help="training channels (.npz from `hbf-edge channels`); "
                                                  "default: --train-size fresh channels drawn with --seed")
    _add_size_args(p)
    g = p.add_argument_group("network and training")
    g.add_argument("--layers", "-I", type=int, default=10, help="outer layers I (default 10)")
    g.add_argument("--inner", "-J", type=int, default=1, help="F-steps per layer J (default 1)")
    g.add_argument("--train-size", type=int, default=500, help="training channels (default 500)")
    g.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    g.add_argument("--batch-size", type=int, default=10, help="channels per Adam step (default 10)")
    g.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    g.add_argument("--lr-decay", type=float, default=0.97, help="learning-rate decay per epoch (default 0.97)")
    g.add_argument("--snr-min", type=float, default=-10.0, help="lowest training SNR in dB (default -10)")
    g.add_argument("--snr-max", type=float, default=20.0, help="highest training SNR in dB (default 20)")
    g.add_argument("--layer-loss", choices=["uniform", "last"], default="uniform",
                   help="uniform: mean rate over all layers (default; every layer useful); "
                        "last: the paper's final-layer rate only")
    g.add_argument("--seed", type=int, default=0, help="seed of channels, SNR draws and shuffling (default 0)")
    g.add_argument("--precision", choices=["float64", "float32"], default="float64",
                   help="arithmetic precision (default float64)")
    _add_quiet(p)

    p = sub.add_parser("evaluate", help="sum rate vs SNR and vs layers, against the baselines",
                       description="Evaluate a model and PGA-30, PGA-100, OMP hybrid and fully digital ZF on "
                                   "held-out channels; write results.json and PNG plots.")
    p.add_argument("model_dir", type=Path, help="model directory from `hbf-edge train`")
    p.add_argument("--out", type=Path, help="directory for results.json and plots (default MODEL_DIR/eval)")
    p.add_argument("--channels", type=Path, help="held-out channels (.npz); default: --test-size fresh ones")
    p.add_argument("--test-size", type=int, default=1000, help="held-out channels to draw (default 1000)")
    p.add_argument("--test-seed", type=int, default=DEFAULT_TEST_SEED,
                   help=f"seed of the held-out channels (default {DEFAULT_TEST_SEED})")
    p.add_argument("--snr", type=float, nargs="+", default=DEFAULT_SNRS, metavar="DB",
                   help="SNRs in dB (default -10 -5 0 5 10 15 20)")
    p.add_argument("--noise", type=float, default=1.0, help="noise power sigma_n^2 (default 1)")
    p.add_argument("--dump", type=Path, metavar="FILE.npz",
                   help="also write channels, SNRs and every method's precoders (keys H, snr_db, "
                        "noise_power, F_<method>, W_<method>, W_zf)")
    _add_quiet(p)

    p = sub.add_parser("quantize", help="quantize a float model for Q-bit phases and fixed-point W (QAT or PTQ)",
                       description="Quantize a trained float UPGA model for the hardware datapath: Q-bit phase "
                                   "codes and a fixed-point digital precoder (word B, B-2 fraction bits, in the "
                                   "kernel's power-normalised units). --qat retrains the step sizes with the "
                                   "datapath in the loop (Brevitas STEs); --ptq keeps the float step sizes. Writes a "
                                   "model directory and OUT/retention.json: sum rate of float, PTQ-round, "
                                   "PTQ-refit and the quantized network on held-out channels.")
    p.add_argument("model_dir", type=Path, help="float model directory from `hbf-edge train`")
    p.add_argument("--out", required=True, type=Path, help="quantized model directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--qat", dest="method", action="store_const", const="qat", help="quantization-aware retraining (default)")
    mode.add_argument("--ptq", dest="method", action="store_const", const="ptq", help="post-training: keep the float steps")
    p.set_defaults(method="qat")
    g = p.add_argument_group("precision")
    g.add_argument("--phase-bits", "-Q", type=int, default=4, help="phase-shifter bits Q, 1..8 (default 4)")
    g.add_argument("--precoder-bits", "-B", type=int, default=12, help="word length of W (default 12)")
    g.add_argument("--precision", type=Path, metavar="FILE",
                   help="per-layer precision (.toml/.json: [default] and [layers.\"i-j\"]); overrides -Q/-B")
    g = p.add_argument_group("QAT training (the float training loop)")
    g.add_argument("--epochs", type=int, default=5, help="QAT epochs (default 5)")
    g.add_argument("--train-size", type=int, default=500, help="training channels (default 500)")
    g.add_argument("--batch-size", type=int, default=10, help="channels per Adam step (default 10)")
    g.add_argument("--lr", type=float, default=1e-2,
                   help="Adam learning rate on the step sizes as factors of the float ones (default 1e-2)")
    g.add_argument("--lr-decay", type=float, default=0.97, help="decay per epoch (default 0.97)")
    g.add_argument("--snr-min", type=float, default=-10.0, help="lowest training SNR in dB (default -10)")
    g.add_argument("--snr-max", type=float, default=20.0, help="highest training SNR in dB (default 20)")
    g.add_argument("--seed", type=int, default=1, help="seed of the QAT channels and SNR draws (default 1)")
    g = p.add_argument_group("evaluation")
    g.add_argument("--test-size", type=int, default=1000, help="held-out channels (default 1000)")
    g.add_argument("--test-seed", type=int, default=DEFAULT_TEST_SEED, help=f"their seed (default {DEFAULT_TEST_SEED})")
    g.add_argument("--snr", type=float, nargs="+", default=[10.0, 20.0], metavar="DB", help="SNRs in dB (default 10 20)")
    _add_quiet(p)

    p = sub.add_parser("study", help="studies over many settings (long: not for CI)",
                       description="Studies that run a command over many settings and summarise them.")
    study = p.add_subparsers(dest="study_command", required=True, metavar="STUDY")
    st = study.add_parser("quantization", help="sum-rate retention vs phase bits: PTQ-round, PTQ-refit, QAT",
                          description="QAT of a float model at each phase resolution Q, evaluated with both PTQ "
                                      "baselines on held-out channels; writes OUT/retention.json, "
                                      "OUT/retention.png and the QAT models OUT/q<Q>.")
    st.add_argument("model_dir", type=Path, help="float model directory")
    st.add_argument("--out", required=True, type=Path, help="output directory")
    st.add_argument("--phase-bits", "-Q", type=int, nargs="+", default=list(range(1, 9)), metavar="Q",
                    help="phase resolutions (default 1..8)")
    st.add_argument("--precoder-bits", "-B", type=int, default=12, help="word length of W (default 12)")
    st.add_argument("--epochs", type=int, default=5, help="QAT epochs per Q (default 5)")
    st.add_argument("--lr", type=float, default=1e-2, help="QAT learning rate, relative to the steps (default 1e-2)")
    st.add_argument("--train-size", type=int, default=500, help="QAT channels (default 500)")
    st.add_argument("--seed", type=int, default=1, help="QAT seed (default 1)")
    st.add_argument("--test-size", type=int, default=1000, help="held-out channels (default 1000)")
    st.add_argument("--snr", type=float, nargs="+", default=[10.0, 20.0], metavar="DB", help="SNRs (default 10 20)")
    _add_quiet(st)

    p = sub.add_parser("bench", help="benchmarks that print JSON (speed targets live here, not in tests)",
                       description="Benchmarks; each prints a JSON document.")
    bench = p.add_subparsers(dest="bench_command", required=True, metavar="BENCH")
    b = bench.add_parser("kernels", help="per-channel latency of the Numba kernels beside torch eager",
                         description="Per-channel latency of the UPGA forward: Numba float64, float32 and hardware "
                                     "(Q=4) kernels and torch eager, for each N and batch; analytic flops, the "
                                     "machine's single-core float64 matmul rate and the ratio to the arithmetic floor.")
    b.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 256], metavar="N",
                   help="antenna counts N (default 32 64 256)")
    b.add_argument("--batches", type=int, nargs="+", default=[1, 1024], metavar="B",
                   help="batch sizes (default 1 1024)")
    b.add_argument("--layers", "-I", type=int, default=10, help="outer layers I (default 10)")
    b.add_argument("--inner", "-J", type=int, default=1, help="F-steps per layer J (default 1)")
    b.add_argument("--repeat", type=int, default=7, help="timed runs per figure; the median is kept (default 7)")
    b.add_argument("--onnx", help="an exported model.onnx to time with onnxruntime as well")
    b.add_argument("--out", type=Path, help="also write the JSON to this file")
    _add_quiet(b)

    p = sub.add_parser("demo", help="the main job: train then evaluate on the embedded default",
                       description="Run the toolkit end to end on the embedded default configuration "
                                   "(N=64, M=K=4, I=10, J=1): train UPGA, evaluate against the baselines.")
    p.add_argument("--out", type=Path, default=Path("hbf-edge-demo"), help="output directory (default hbf-edge-demo)")
    p.add_argument("--quick", action="store_true", help="small sizes for CI (well under a minute)")
    _add_quiet(p)
    return parser


def _load_channels(path: Path, n_antennas: int | None = None, n_users: int | None = None) -> Any:
    from .channels import ChannelDataset, validate_miso_channels

    ds = ChannelDataset.load(path)
    if ds.model != "saleh_valenzuela":
        raise HbfEdgeError(f"{path} holds {ds.model} channels; UPGA needs MISO channels [B, N, K]")
    return validate_miso_channels(ds.H, n_antennas, n_users, name=str(path))


def _cmd_channels(args: argparse.Namespace) -> int:
    from .channels import make_dataset

    ds = make_dataset("saleh_valenzuela", n_channels=args.count, n_antennas=args.n_antennas,
                      n_users=args.n_users, n_paths=args.paths, seed=args.seed)
    path = ds.save(args.out)
    print(f"wrote {len(ds)} channels [{args.count}, {args.n_antennas}, {args.n_users}] to {path}")
    return 0


def _train(args: argparse.Namespace, out: Path, overwrite: bool, **overrides: Any) -> Path:
    from .modeldir import save_model
    from .training import TrainConfig, train_upga

    settings = dict(
        n_antennas=args.n_antennas, n_rf=args.n_rf, n_users=args.n_users, n_paths=args.paths,
        n_layers=args.layers, n_inner=args.inner, train_size=args.train_size, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay, snr_db_min=args.snr_min,
        snr_db_max=args.snr_max, layer_loss=args.layer_loss, seed=args.seed, precision=args.precision,
    )
    settings.update(overrides)
    if out.exists() and not overwrite:  # fail before training, not after
        raise ModelDirError(f"{out} already exists (pass --overwrite to replace it)")
    H = None
    if getattr(args, "channels", None) is not None:
        H = _load_channels(args.channels, settings["n_antennas"], settings["n_users"])
        settings["train_size"] = int(H.shape[0])
    config = TrainConfig(**settings)
    t0 = time.perf_counter()
    model, model_config = train_upga(config, H, progress=not args.quiet)
    model_config.training["wall_seconds"] = round(time.perf_counter() - t0, 2)
    save_model(model, model_config, out, overwrite=overwrite)
    last = model_config.history[-1]
    print(f"trained UPGA I={config.n_layers} J={config.n_inner} in {model_config.training['wall_seconds']} s; "
          f"final epoch loss {last['loss']:.4f}; model written to {out}")
    return out


def _cmd_train(args: argparse.Namespace) -> int:
    _train(args, args.out, args.overwrite)
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
    from ._io import atomic_file
    from .channels import saleh_valenzuela_miso, validate_miso_channels
    from .evaluation import evaluate, write_dump
    from .modeldir import load_model
    from .plots import plot_rate_vs_layers, plot_rate_vs_snr

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
    H = None if args.channels is None else _load_channels(args.channels)
    out = args.out if args.out is not None else args.model_dir / "eval"
    _evaluate(args.model_dir, out, H, list(args.snr), args.noise, args.dump, args.quiet,
              args.test_size, args.test_seed)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    train_args = build_parser().parse_args(["train", "--out", str(args.out / "model")])
    train_args.quiet = args.quiet
    overrides = {"train_size": 100, "epochs": 3} if args.quick else {}
    _train(train_args, args.out / "model", overwrite=True, **overrides)
    _evaluate(args.out / "model", args.out / "eval", None, DEFAULT_SNRS, 1.0, None, args.quiet,
              test_size=200 if args.quick else 1000)
    return 0


def _precoder_format(bits: int) -> Any:
    from .spec import FixedPointFormat

    if not 3 <= bits <= 32:
        raise ConfigError(f"--precoder-bits must be in 3..32, got {bits}")
    return FixedPointFormat(bits, bits - 2)  # normalised W: entries below 2 in magnitude


def _cmd_quantize(args: argparse.Namespace) -> int:
    from quant import PrecisionConfig, load_quantized, quantized_config, save_quantized, train_qat
    from quant.evaluate import retention
    from quant.qat import QuantUPGA

    from ._io import atomic_file
    from .channels import saleh_valenzuela_miso
    from .modeldir import load_model
    from .training import TrainConfig

    model, config = load_model(args.model_dir)
    if config.precision is not None:
        raise ConfigError(f"{args.model_dir} is already quantized; quantize its float model")
    if args.out.exists() and not args.overwrite:
        raise ModelDirError(f"{args.out} already exists (pass --overwrite to replace it)")
    spec = config.spec
    if args.precision is not None:
        precision = PrecisionConfig.load(args.precision, spec.replace(phase_bits=args.phase_bits), config.n_layers)
    else:
        precision = PrecisionConfig.uniform_config(spec, config.n_layers, args.phase_bits,
                                                   _precoder_format(args.precoder_bits))
    n_paths = int(config.training.get("n_paths", 10))
    t0 = time.perf_counter()
    if args.method == "qat":
        loop = TrainConfig(n_antennas=spec.n_antennas, n_rf=spec.n_rf, n_users=spec.n_users, n_paths=n_paths,
                           n_layers=config.n_layers, n_inner=config.n_inner, train_size=args.train_size,
                           epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
                           snr_db_min=args.snr_min, snr_db_max=args.snr_max, seed=args.seed)
        qmodel, qconfig = train_qat(model, config, precision, loop, progress=not args.quiet)
    else:
        qmodel = QuantUPGA(precision.layer_specs(), config.n_inner, model.mu.detach(), model.lam.detach())
        qconfig = quantized_config(config, precision, "ptq", {}, [])
    qconfig.quantization["wall_seconds"] = round(time.perf_counter() - t0, 2)
    save_quantized(qmodel, qconfig, args.out, overwrite=args.overwrite)
    qmodel, _, _ = load_quantized(args.out)  # evaluate what was written
    H = saleh_valenzuela_miso(args.test_size, spec.n_antennas, spec.n_users, n_paths, seed=args.test_seed)
    result = retention(model, qmodel, H, list(args.snr))
    result["method"] = args.method
    result["model_dir"] = str(args.out)
    with atomic_file(args.out / "retention.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.method.upper()} in {qconfig.quantization['wall_seconds']} s; model written to {args.out}")
    print(f"sum rate (bit/s/Hz) and retention vs float, {result['n_channels']} held-out channels, "
          f"Q={result['phase_bits']} (last layer), W {result['precoder']['word_bits']} bits:")
    print("SNR dB |   float | ptq_round | ptq_refit | quantized")
    for i, snr in enumerate(result["snr_db"]):
        r, k = result["sum_rate"], result["retention"]
        print(f"{snr:6g} | {r['float'][i]:7.3f} | {r['ptq_round'][i]:7.3f} ({k['ptq_round'][i]:.1%}) | "
              f"{r['ptq_refit'][i]:7.3f} ({k['ptq_refit'][i]:.1%}) | {r['quantized'][i]:7.3f} ({k['quantized'][i]:.1%})")
    return 0


def _cmd_study(args: argparse.Namespace) -> int:
    from quant.study import retention_study

    from ._io import atomic_file
    from .channels import saleh_valenzuela_miso
    from .modeldir import load_model
    from .plots import plot_retention
    from .training import TrainConfig

    _, config = load_model(args.model_dir)
    spec = config.spec
    n_paths = int(config.training.get("n_paths", 10))
    loop = TrainConfig(n_antennas=spec.n_antennas, n_rf=spec.n_rf, n_users=spec.n_users, n_paths=n_paths,
                       n_layers=config.n_layers, n_inner=config.n_inner, train_size=args.train_size,
                       epochs=args.epochs, lr=args.lr, seed=args.seed)
    H = saleh_valenzuela_miso(args.test_size, spec.n_antennas, spec.n_users, n_paths, seed=DEFAULT_TEST_SEED)
    t0 = time.perf_counter()
    result = retention_study(args.model_dir, args.out, list(args.phase_bits), _precoder_format(args.precoder_bits),
                             loop, H, list(args.snr), progress=not args.quiet)
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    with atomic_file(args.out / "retention.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    plot_retention(result, args.out / "retention.png")
    print("retention vs float UPGA (%), " + ", ".join(f"{s:g} dB" for s in result["snr_db"]) + ":")
    print(" Q | " + " | ".join(f"{'round':>6} {'refit':>6} {'QAT':>6}" for _ in result["snr_db"]))
    for r in result["rows"]:
        k = r["retention"]
        cells = [f"{100 * k['ptq_round'][i]:6.2f} {100 * k['ptq_refit'][i]:6.2f} {100 * k['quantized'][i]:6.2f}"
                 for i in range(len(result["snr_db"]))]
        print(f"{r['phase_bits']:2d} | " + " | ".join(cells))
    print(f"wrote {args.out / 'retention.json'} and retention.png in {result['wall_seconds']} s")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from ._io import atomic_file
    from .bench import bench_kernels

    for name, values in (("--sizes", args.sizes), ("--batches", args.batches)):
        if any(v < 1 for v in values):
            raise ConfigError(f"{name} must be positive")
    if args.layers < 1 or args.inner < 1 or args.repeat < 1:
        raise ConfigError("--layers, --inner and --repeat must be >= 1")
    result = bench_kernels(tuple(args.sizes), tuple(args.batches), n_layers=args.layers, n_inner=args.inner,
                           repeat=args.repeat, onnx_model=args.onnx, progress=not args.quiet)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        with atomic_file(args.out) as tmp:
            tmp.write_text(text + "\n")
    return 0


_COMMANDS = {"channels": _cmd_channels, "train": _cmd_train, "evaluate": _cmd_evaluate, "demo": _cmd_demo,
             "bench": _cmd_bench, "quantize": _cmd_quantize, "study": _cmd_study}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except HbfEdgeError as exc:
        print(f"hbf-edge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
