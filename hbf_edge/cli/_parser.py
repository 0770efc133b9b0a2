"""The argument parser of the ``hbf-edge`` command (every option explained in ``--help``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hbf_edge import __version__

DEFAULT_SNRS = [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]
DEFAULT_TEST_SEED = 2026  # differs from the default training seed (0): held-out channels


def _add_size_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("system size")
    g.add_argument("--n-antennas", "-N", type=int, default=64, help="transmit antennas N (default 64)")
    g.add_argument("--n-rf", "-M", type=int, default=4, help="RF chains M, >= K (default 4)")
    g.add_argument("--n-users", "-K", type=int, default=4, help="single-antenna users K (default 4)")
    g.add_argument("--paths", type=int, default=10, help="Saleh-Valenzuela paths per user P (default 10)")


def _add_network_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("multi-cell network (deepfp only; deepfp.txt Section V-A, N_t from -N)")
    g.add_argument("--cells", type=int, choices=[1, 7], default=7, help="1 (single cell) or 7 hexagonal cells (default 7)")
    g.add_argument("--users-per-cell", type=int, default=6, help="users K per cell (default 6)")
    g.add_argument("--n-rx", type=int, default=4, help="receive antennas N_r per user (default 4)")
    g.add_argument("--streams", "-d", type=int, default=2, help="data streams d per user, <= N_r (default 2)")
    g.add_argument("--noise-dbm", type=float, default=-80.0,
                   help="noise power against 20 dBm per BS (default -80, the authors' code; the text says -90)")
    g.add_argument("--fading", choices=["phase", "rayleigh"], default="phase",
                   help="small-scale fading: unit-magnitude random phase (default) or Rayleigh")


def _add_deepfp_eval_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("deepfp only (Tables I-II)")
    g.add_argument("--fastfp-iterations", type=int, default=100, help="iterations of the FastFP reference (default 100)")
    g.add_argument("--time-samples", type=int, default=200, help="channels the CPU times are measured on (default 200)")
    g.add_argument("--baselines", nargs="*", choices=["ezf", "wmmse_sc", "wmmse"],
                   help="more rows (default: ezf and, in a single cell, wmmse_sc)")


def _add_output_stage(g: argparse._ActionsContainer) -> None:
    """--output-stage and --internal-phase-bits of quantize and study quantization (upga)."""
    g.add_argument("--output-stage", choices=["none", "wiener", "zf"], default="none",
                   help="W after the last layer (upga): none (default, the last layer's W), or the transmit "
                        "Wiener filter / zero forcing on the effective channel of the final codes, its "
                        "regularisation trained by QAT (better at high SNR and low Q; see the README)")
    g.add_argument("--internal-phase-bits", type=int, metavar="BITS",
                   help="phase bits of layers 0..I-2 (upga), whose codes are the datapath's internal iterates; "
                        "only the last layer's drive the phase shifters (default: Q in every layer)")
    g.add_argument("--code-search", type=int, metavar="SWEEPS",
                   help="hardware datapath (upga; needs --output-stage): after the last layer, up to SWEEPS passes "
                        "of coordinate descent over the phase codes, each candidate scored by the sum rate with "
                        "the output stage's W (default: no search; 2 is a good choice at Q <= 3)")
    g.add_argument("--search-span", type=int, default=1, metavar="STEPS",
                   help="codes tried per entry: up to STEPS code steps either side (default 1)")


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
    p.add_argument("--model", choices=["upga", "deepfp"], default="upga",
                   help="upga: single-cell MISO channels [B, N, K] (default); deepfp: a multi-cell network dataset "
                        "[B, L, K, L, N_r, N_t] with its 70/15/15 split")
    _add_size_args(p)
    _add_network_args(p)
    g = p.add_argument_group("hybrid DeepFP (deepfp only)")
    g.add_argument("--hybrid", type=Path, metavar="UPGA_DIR",
                   help="instead of a cellular network: the single-cell problems DeepFP solves as the digital "
                        "stage behind the phase codes of this quantized UPGA model (N_t = M, N_r = d = 1)")
    g.add_argument("--snr", type=float, default=10.0, help="SNR in dB of the hybrid problems (default 10)")

    p = sub.add_parser("train", help="train an unfolded network (UPGA, or UPGANet for JCAS) in float",
                       description="Train UPGA (Algorithm 1 unfolded, trainable mu [I x J] and lambda [I]) "
                                   "unsupervised on the sum rate, or with --model upganet the JCAS network of "
                                   "upganet_jcas.txt on R - omega tau; write a model directory. Defaults marked "
                                   "upga/upganet differ per family (the papers' settings).")
    p.add_argument("--out", required=True, type=Path, help="model directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model directory")
    p.add_argument("--model", choices=["upga", "upganet", "deepfp"], default="upga",
                   help="family: upga (sum rate, default), upganet (joint communications and sensing) or deepfp "
                        "(multi-cell WSR, unfolded FastFP)")
    p.add_argument("--channels", type=Path, help="training channels (.npz from `hbf-edge channels`); "
                                                  "default: --train-size fresh channels drawn with --seed")
    _add_size_args(p)
    g = p.add_argument_group("network and training")
    g.add_argument("--layers", "-I", type=int, help="outer layers I (default upga 10, upganet 20, deepfp 8)")
    g.add_argument("--inner", "-J", type=int, help="F-steps per layer J (default upga 1, upganet 10)")
    g.add_argument("--train-size", type=int, help="training channels (default upga 500, upganet 1000, deepfp 2000)")
    g.add_argument("--epochs", type=int, help="epochs (default upga 20, upganet 10, deepfp 30)")
    g.add_argument("--batch-size", type=int, help="channels per Adam step (default upga 10, upganet 50, deepfp 200)")
    g.add_argument("--lr", type=float, help="Adam learning rate (default upga 1e-3, deepfp 5e-3; upganet 0.02, relative: each "
                                             "step size moves by about this fraction of its initial value)")
    g.add_argument("--lr-decay", type=float, default=0.97, help="learning-rate decay per epoch (default 0.97)")
    g.add_argument("--snr-min", type=float, help="lowest training SNR in dB (default upga -10, upganet 0)")
    g.add_argument("--snr-max", type=float, help="highest training SNR in dB (default upga 20, upganet 12)")
    g.add_argument("--mu0", type=float, help="initial F step sizes (default upga 0.01, upganet 0.3)")
    g.add_argument("--lambda0", type=float, help="initial W step sizes (default upga 1e-4, upganet 2e-4)")
    g.add_argument("--layer-loss", choices=["uniform", "last"],
                   help="uniform: mean over all layers (upga default; every layer useful); "
                        "last: the paper's final-layer loss (upganet default)")
    g.add_argument("--seed", type=int, default=0, help="seed of channels, SNR draws and shuffling (default 0)")
    g.add_argument("--precision", choices=["float64", "float32"], default="float64",
                   help="arithmetic precision (default float64)")
    g = p.add_argument_group("sensing (upganet only; paper Section IV defaults)")
    g.add_argument("--targets", type=float, nargs="+", default=[-60.0, 0.0, 60.0], metavar="DEG",
                   help="target angles in degrees (default -60 0 60)")
    g.add_argument("--delta", type=float, default=5.0, help="half main-lobe width in degrees (default 5)")
    g.add_argument("--omega", type=float, default=0.3, help="weight of the beampattern error (default 0.3)")
    _add_network_args(p)
    g = p.add_argument_group("deepfp training (Section V-A; --layers default 8, --epochs = unsupervised epochs)")
    g.add_argument("--hidden", type=int, default=64, help="units per hidden layer of each DNN (default 64)")
    g.add_argument("--step-base", choices=["frobenius", "exact"], default="frobenius",
                   help="the step the DNN scales: 1/||L||_F (Remark 9, default) or the exact line search of the "
                        "FP surrogate along each user's direction")
    g.add_argument("--supervised-epochs", type=int, default=5, help="epochs on the MSE to FastFP, eq. 53 (default 5)")
    g.add_argument("--fastfp-iterations", type=int, default=100, help="FastFP iterations of the labels (default 100)")
    g.add_argument("--keep", choices=["best", "last"], default="best",
                   help="which epoch's parameters to save: the best validation WSR (default) or the last")
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
    p.add_argument("--snr", type=float, nargs="+", metavar="DB",
                   help="SNRs in dB (default upga -10 -5 0 5 10 15 20, upganet 0 2 4 6 8 10 12)")
    p.add_argument("--noise", type=float, default=1.0, help="noise power sigma_n^2 (default 1)")
    p.add_argument("--compare", type=Path, nargs="+", default=[], metavar="MODEL_DIR",
                   help="upganet only: more UPGANet models of the same scenario in the same tables and plots")
    p.add_argument("--iterations", type=int, default=120,
                   help="upganet only: outer iterations of the fixed-step PGA convergence curves (default 120)")
    _add_deepfp_eval_args(p)
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
    _add_output_stage(g)
    g = p.add_argument_group("deepfp only: 8-bit DNNs (Brevitas QuantLinear) and fixed-point V")
    g.add_argument("--dnn-bits", type=int, default=8, help="DNN weight and activation bits (default 8)")
    g.add_argument("--v-bits", type=int, default=16, help="word of the beamformer entries, Q1.(b-1) (default 16)")
    g.add_argument("--channels", type=Path, help="network dataset (.npz): QAT on its train split, retention on "
                                                  "its test split (default: fresh networks like the model's)")
    g = p.add_argument_group("QAT training (the float training loop; defaults differ for upga / upganet / deepfp)")
    g.add_argument("--epochs", type=int, default=5, help="QAT epochs (default 5)")
    g.add_argument("--train-size", type=int, default=500, help="training channels (default 500)")
    g.add_argument("--batch-size", type=int, help="channels per Adam step (default upga 10, upganet 50)")
    g.add_argument("--lr", type=float,
                   help="Adam learning rate, relative to the float steps (default upga 1e-2, upganet 1e-2; "
                        "deepfp 1e-3, absolute)")
    g.add_argument("--lr-decay", type=float, default=0.97, help="decay per epoch (default 0.97)")
    g.add_argument("--snr-min", type=float, help="lowest training SNR in dB (default upga -10, upganet 0)")
    g.add_argument("--snr-max", type=float, help="highest training SNR in dB (default upga 20, upganet 12)")
    g.add_argument("--seed", type=int, default=1, help="seed of the QAT channels and SNR draws (default 1)")
    g = p.add_argument_group("evaluation")
    g.add_argument("--test-size", type=int, default=1000, help="held-out channels (default 1000)")
    g.add_argument("--test-seed", type=int, default=DEFAULT_TEST_SEED, help=f"their seed (default {DEFAULT_TEST_SEED})")
    g.add_argument("--snr", type=float, nargs="+", metavar="DB", help="SNRs in dB (default upga 10 20, upganet 0 6 12)")
    _add_quiet(p)

    p = sub.add_parser("export", help="write the verified bundle of a quantized model (LUTs, beams, manifest)",
                       description="Export a quantized model directory: lut.json, lut.h, lut_*.mem, beams.npz "
                                   "(the hardware kernel's phase codes and W words for a set of channels) and "
                                   "manifest.json with the sha256 of every file. Written atomically.")
    p.add_argument("model_dir", type=Path, help="quantized model directory from `hbf-edge quantize`")
    p.add_argument("--out", required=True, type=Path, help="bundle directory to create")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle")
    p.add_argument("--channels", type=Path, help="channels for beams.npz (.npz from `hbf-edge channels`; "
                                                  "deepfp: a network dataset, its test split)")
    p.add_argument("--count", type=int, default=100, help="channels to draw when --channels is not given (default 100)")
    p.add_argument("--seed", type=int, default=DEFAULT_TEST_SEED, help=f"their seed (default {DEFAULT_TEST_SEED})")
    p.add_argument("--snr", type=float, default=10.0, help="SNR in dB of the beams (default 10)")
    p.add_argument("--hybrid", type=Path, metavar="PGA_BUNDLE",
                   help="deepfp: a hybrid bundle instead -- DeepFP's W behind the phase codes of this UPGA bundle "
                        "(for `hbf-edge simulate`); the model must be trained on `channels --hybrid` problems")

    p = sub.add_parser("simulate", help="replay a bundle in the simulated RF front-end controller",
                       description="Program every beam of BUNDLE/beams.npz into the register-level controller model "
                                   "(direct writes, and beam RAM preload + recall), read the applied registers "
                                   "back and report code mismatches, applied vs model sum rate, beam-switch "
                                   "latency and rejected transactions; writes OUT/simulate.json and "
                                   "OUT/beampattern.png.")
    p.add_argument("bundle", type=Path, help="bundle directory from `hbf-edge export`")
    p.add_argument("--out", type=Path, help="directory for simulate.json and beampattern.png (default BUNDLE/sim)")
    p.add_argument("--channels", type=Path, help="channels (.npz) to rate the applied beams on (default the bundle's)")
    p.add_argument("--calibration", type=Path, help="per-code phase/gain errors (JSON; default ideal)")
    p.add_argument("--channels-per-chip", type=int, default=4, help="phase shifters per chip C (default 4)")
    p.add_argument("--chips-per-bus", type=int, default=4, help="chips per SPI bus, 1..4 (default 4)")
    p.add_argument("--beam-states", type=int, default=121, help="beam RAM states per chip S (default 121)")
    p.add_argument("--spi-mhz", type=float, default=25.0, help="SPI clock in MHz (default 25)")
    p.add_argument("--pattern-channel", type=int, default=0, help="channel whose beampattern is plotted (default 0)")

    p = sub.add_parser("calibration", help="write a random per-code calibration file for `simulate`",
                       description="Independent uniform per-code phase (and gain) errors, a stand-in for a "
                                   "measured calibration table.")
    p.add_argument("--out", required=True, type=Path, help="JSON file to write")
    p.add_argument("--phase-bits", "-Q", type=int, default=4, help="phase bits of the table (default 4)")
    p.add_argument("--phase-error-deg", type=float, default=3.0, help="phase errors within +-this (default 3)")
    p.add_argument("--gain-error-db", type=float, default=0.0, help="gain errors within +-this (default 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    p = sub.add_parser("profile", help="per-layer latency per backend, op counts and a target estimate",
                       description="Per-stage (init, each layer) latency of a float model for each backend at "
                                   "each batch size, its analytic operation counts and bytes, and an estimate "
                                   "for an embedded target; prints a table (or JSON) and writes OUT/profile.json "
                                   "and OUT/profile.png. Example targets: dsp, mcu (hbf_edge/targets/*.toml).")
    p.add_argument("model_dir", type=Path, help="model directory (upga, upganet or deepfp; float or quantized)")
    p.add_argument("--backends", nargs="+",
                   help="backends to time (default: all the family has; upga and upganet: numba_float64 "
                        "numba_float32 numba_hardware torch_eager onnxruntime; deepfp: numba_float64 "
                        "numba_hardware torch_eager)")
    p.add_argument("--batches", type=int, nargs="+", help="batch sizes (default 1 256; deepfp 1 16)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per figure (default 5)")
    p.add_argument("--target", default="dsp", help="target file (.toml) or an example name: dsp, mcu (default dsp)")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    p.add_argument("--out", type=Path, help="directory for profile.json and profile.png (default MODEL_DIR/profile)")
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
    _add_output_stage(st)
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
    o = bench.add_parser("onnx", help="the bundle's quantized ONNX against the QAT model and the kernel",
                         description="Run BUNDLE/model.qcdq.onnx in onnxruntime on fresh channels (SNR drawn from "
                                     "-10..20 dB) and print, as JSON, the fractions of phase codes and W words equal "
                                     "to the QAT model's (QUANT_MODEL_DIR) and the hardware kernel's, with timings.")
    o.add_argument("model_dir", type=Path, metavar="QUANT_MODEL_DIR", help="the quantized model the bundle came from")
    o.add_argument("bundle", type=Path, metavar="BUNDLE", help="a bundle written by 'hbf-edge export'")
    o.add_argument("--count", type=int, default=1000, help="channels (default 1000)")
    o.add_argument("--seed", type=int, default=2026, help="channel seed (default 2026)")

    f = bench.add_parser("deepfp", help="Tables I-II of the DeepFP paper: WSR and CPU time against FastFP-100",
                         description="WSR and CPU time per channel of a DeepFP model against FastFP-100 (lambda_max), "
                                     "the FastFP iterations that match it, and EZF / WMMSE-SC, on held-out networks; "
                                     "prints JSON.")
    f.add_argument("model_dir", type=Path, help="DeepFP model directory")
    f.add_argument("--channels", type=Path, help="a network dataset (.npz from `hbf-edge channels --model deepfp`): "
                                                 "its test split; default --test-size fresh networks")
    f.add_argument("--test-size", type=int, default=1000, help="held-out networks to draw (default 1000)")
    f.add_argument("--test-seed", type=int, default=DEFAULT_TEST_SEED,
                   help=f"seed of the networks and of the common random start (default {DEFAULT_TEST_SEED})")
    f.add_argument("--out", type=Path, help="also write the JSON to this file")
    _add_deepfp_eval_args(f)
    _add_quiet(f)

    k = bench.add_parser("deepfp-kernels", help="DeepFP's Numba kernels against the torch network",
                         description="Run a DeepFP model in torch and in its Numba kernel (float model: the float "
                                     "kernel; quantized model: the hardware mode) from the same seeded start and "
                                     "print, as JSON, their agreement (largest V difference, or the fractions of "
                                     "equal step codes and V words), both mean WSRs and the time per network.")
    k.add_argument("model_dir", type=Path, help="DeepFP model directory (float or quantized)")
    k.add_argument("--channels", type=Path, help="a network dataset: its test split (default --test-size fresh networks)")
    k.add_argument("--test-size", type=int, default=200, help="networks to draw without --channels (default 200)")
    k.add_argument("--test-seed", type=int, default=DEFAULT_TEST_SEED,
                   help=f"seed of the networks and of the random start (default {DEFAULT_TEST_SEED})")
    k.add_argument("--out", type=Path, help="also write the JSON to this file")

    u = bench.add_parser("upganet", help="per-layer latency of a UPGANet model (Numba, torch) and its MACs",
                         description="Per-stage latency (init, each layer) of a UPGANet (JCAS) model directory for "
                                     "the Numba float64/float32 and bit-accurate hardware kernels and torch eager, with the analytic MACs per "
                                     "inner step / W-step / layer; prints JSON.")
    u.add_argument("model_dir", type=Path, help="UPGANet model directory")
    u.add_argument("--batches", type=int, nargs="+", default=[1, 256], help="batch sizes (default 1 256)")
    u.add_argument("--repeat", type=int, default=5, help="timed runs per figure (default 5)")
    u.add_argument("--out", type=Path, help="also write the JSON to this file")

    p = sub.add_parser("demo", help="the main job: the whole toolkit on the embedded default",
                       description="Run the toolkit end to end on the embedded default configuration "
                                   "(N=64, M=K=4, I=10, J=1): train UPGA, evaluate it against the baselines, "
                                   "QAT to 4-bit phases and 12-bit W, export the bundle, replay it in the RF "
                                   "controller simulator, and write OUT/report.md.")
    p.add_argument("--out", type=Path, default=Path("hbf-edge-demo"), help="output directory (default hbf-edge-demo)")
    p.add_argument("--quick", action="store_true", help="small sizes for CI (well under a minute)")
    _add_quiet(p)
    return parser
