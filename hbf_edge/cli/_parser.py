"""The argument parser of ``hbf-edge``: commands, and each family's options from its settings.

The CLI knows no family.  Commands that create something take the family as a subcommand
(``hbf-edge train upga ...``), with options generated from the family's settings dataclass;
commands on a model directory read the family from it, so ``hbf-edge evaluate MODEL_DIR --help``
lists exactly the options that apply to that model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from hbf_edge import __version__
from hbf_edge.cli._options import add_settings
from hbf_edge.families._settings import DEFAULT_TEST_SEED

__all__ = ["build_parser", "DIR_COMMANDS", "settings_class"]

# command path -> (stage, the stage's attribute holding the settings class)
DIR_COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("evaluate",): ("core", "eval_settings"),
    ("quantize",): ("quant", "quant_settings"),
    ("export",): ("export", "export_settings"),
    ("profile",): ("core", "profile_settings"),
    ("study", "quantization"): ("quant", "study_settings"),
    ("bench", "model"): ("core", "bench_settings"),
    ("bench", "agreement"): ("core", "agreement_settings"),
}
_HELP = {
    ("evaluate",): "evaluate a model against the baselines (the family's metrics, tables and plots)",
    ("quantize",): "quantize a float model for the hardware datapath (QAT or PTQ), with retention tables",
    ("export",): "write the verified bundle of a model (LUTs, beams, ONNX, manifest)",
    ("profile",): "per-layer latency per backend, op counts and an embedded-target estimate",
    ("study", "quantization"): "retention vs phase bits: PTQ-round, PTQ-refit, QAT and the kernel (long)",
    ("bench", "model"): "the family's model benchmark as JSON (DeepFP: Tables I-II; UPGANet: kernel latency)",
    ("bench", "agreement"): "the Numba kernels against the torch network, as JSON",
}
_EPILOG = {  # what a directory command does beyond its options
    ("export",): "The ONNX graphs traced from a model are kept in a cache, and the next export of the same model "
                 "(same config.json and weights, same toolkit; for DeepFP also the same problem sizes) takes them "
                 "from there and checks them again on its own beams: "
                 "$HBF_EDGE_GRAPH_CACHE, else $XDG_CACHE_HOME/hbf-edge/graphs, else ~/.cache/hbf-edge/graphs; "
                 "HBF_EDGE_GRAPH_CACHE=off turns it off.",
}


def settings_class(stages: dict[str, Any], command: tuple[str, ...]) -> type | None:
    """The settings dataclass of a directory command for one family (None: not available)."""
    stage, attr = DIR_COMMANDS[command]
    impl = stages.get(stage)
    return getattr(impl, attr, None) if impl is not None else None


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")


def _family_commands(sub: Any, name: str, helptext: str, attr: str, families: dict[str, Any]) -> None:
    """``hbf-edge NAME FAMILY [options]``: one subcommand per registered family."""
    p = sub.add_parser(name, help=helptext, description=helptext + ". Options depend on the family: "
                       f"`hbf-edge {name} FAMILY --help`.")
    fam = p.add_subparsers(dest="family", required=True, metavar="FAMILY")
    for family, core in families.items():
        cls = getattr(core, attr, None)
        if cls is None:  # a (plug-in) family without this command
            continue
        f = fam.add_parser(family, help=core.spec.title, description=(cls.__doc__ or "").strip()
                           + f" Paper: {core.spec.paper}. Defaults are the paper's.")
        add_settings(f, cls)


def _dir_command(sub: Any, command: tuple[str, ...], cls: type | None, family: str | None) -> None:
    helptext = _HELP[command]
    if cls is None:  # no family known yet (no MODEL_DIR, or --help alone): the positional only
        p = sub.add_parser(command[-1], help=helptext,
                           description=helptext + ". The options depend on the model's family: "
                           f"`hbf-edge {' '.join(command)} MODEL_DIR --help` lists them.", epilog=_EPILOG.get(command))
        p.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="model directory")
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        return
    p = sub.add_parser(command[-1], help=helptext,
                       description=(cls.__doc__ or helptext).strip() + f" (family: {family})",
                       epilog=_EPILOG.get(command))
    add_settings(p, cls)


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like the library's errors, naming the help that lists the options
    (argparse would print the whole usage first).  Subcommand parsers are of the same class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"hbf-edge: error: {message} (`{self.prog} --help` lists the options)\n")


def command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub)parser of the command ``argv`` names: its usage errors name its own options."""
    for token in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs and token in subs[0].choices:
            parser = subs[0].choices[token]
    return parser


def build_parser(families: dict[str, Any], command: tuple[str, ...] | None = None, family: str | None = None,
                 stages: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """The full parser.

    Parameters
    ----------
    families : dict of str -> core stage
        Every registered family (for the ``channels`` and ``train`` subcommands).
    command, family, stages
        The directory command being parsed, its model's family and that family's stage
        implementations (``{"core": ..., "quant": ..., "export": ...}``): its options are
        generated from the family's settings.  Other directory commands get a placeholder.
    """
    parser = _Parser(
        prog="hbf-edge",
        description="Hardware-aware deployment toolkit for deep-unfolded hybrid beamformers. "
                    f"Families: {', '.join(families)} (`hbf-edge families`).",
    )
    parser.add_argument("--version", action="version", version=f"hbf-edge {__version__}")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="threads for torch, Numba and numpy's BLAS alike (default: torch 1, Numba every "
                             "core, BLAS 1, unless OMP_NUM_THREADS / NUMBA_NUM_THREADS are set; "
                             "HBF_EDGE_THREADS=N as well)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("families", help="list the registered families and their papers")
    _family_commands(sub, "channels", "generate a seeded channel dataset (.npz) for a family", "channel_settings",
                     families)
    _family_commands(sub, "train", "train a family's unfolded network in float and write a model directory",
                     "train_settings", families)

    groups: dict[str, Any] = {}
    for cmd in DIR_COMMANDS:
        if len(cmd) == 1:
            target = sub
        else:
            if cmd[0] not in groups:
                helptext = {"study": "studies over many settings (long: not for CI)",
                            "bench": "benchmarks that print JSON (speed targets live here, not in tests)"}[cmd[0]]
                g = sub.add_parser(cmd[0], help=helptext, description=helptext + ".")
                groups[cmd[0]] = g.add_subparsers(dest=f"{cmd[0]}_command", required=True,
                                                  metavar=cmd[0].upper())
            target = groups[cmd[0]]
        cls = settings_class(stages, cmd) if (cmd == command and stages) else None
        _dir_command(target, cmd, cls, family)

    p = sub.add_parser("precision", help="precision files (per-layer formats) of a model",
                       description="Precision files: the phase bits and every fixed-point format of the datapath.")
    psub = p.add_subparsers(dest="precision_command", required=True, metavar="ACTION")
    t = psub.add_parser("template", help="write the full precision file of a model (its own, or the defaults)",
                        description="Write the model's precision as a complete TOML file (every format written "
                                    "out), to edit and pass to `hbf-edge quantize --precision FILE`.")
    t.add_argument("model_dir", type=Path, metavar="MODEL_DIR", help="model directory (float or quantized)")
    t.add_argument("--out", type=Path, help="folder for precision.toml (default: print it)")
    t.add_argument("--phase-bits", "-Q", type=int, default=None,
                   help="phase bits of a float model's file (default 4), where the family's file holds them")

    p = sub.add_parser("simulate", help="replay a bundle in the simulated RF front-end controller",
                       description="Program every beam of BUNDLE/beams.npz into the register-level controller model "
                                   "(direct writes, and beam RAM preload + recall), read the applied registers "
                                   "back and report code mismatches, applied vs model sum rate, beam-switch "
                                   "latency and rejected transactions; writes OUT/simulate.json and "
                                   "OUT/beampattern.png.")
    p.add_argument("bundle", type=Path, help="bundle directory from `hbf-edge export`")
    p.add_argument("--out", type=Path, help="directory for simulate.json and beampattern.png (default BUNDLE/sim)")
    p.add_argument("--channels", type=Path, help="channels to rate the applied beams on: a dataset or a plain "
                                                 ".npy/.npz/.mat array H [B, N, K] (default the bundle's)")
    p.add_argument("--calibration", type=Path, help="per-code phase/gain errors (JSON; default ideal)")
    p.add_argument("--channels-per-chip", type=int, default=4, help="phase shifters per chip C (default 4)")
    p.add_argument("--chips-per-bus", type=int, default=4, help="chips per SPI bus, 1..4 (default 4)")
    p.add_argument("--beam-states", type=int, default=121, help="beam RAM states per chip S (default 121)")
    p.add_argument("--spi-mhz", type=float, default=25.0, help="SPI clock in MHz (default 25)")
    p.add_argument("--pattern-channel", type=int, default=0, help="channel whose beampattern is plotted (default 0)")
    p.add_argument("--trace", action="store_true",
                   help="also write OUT/trace.csv (every SPI transaction: time, bus, chip, R/W, address, data, "
                        "accepted) and OUT/trace.vcd (SCLK, MOSI, chip selects and LOAD per bus, for GTKWave)")
    p.add_argument("--trace-beams", type=int, default=1, metavar="K",
                   help="the waveform covers the direct programming of the first K beams (default 1; the CSV "
                        "holds every transaction)")
    p.add_argument("--verify-key", type=Path, metavar="KEY",
                   help="refuse the bundle unless its manifest is signed with this key (`export --sign KEY`); "
                        "without it only the sha256 hashes are checked, which catch damage, not forgery")

    p = sub.add_parser("firmware", help="build a bundle's C datapath for each target and verify it bit for bit",
                       description="Compile BUNDLE/hbf_model.c with every installed toolchain: the host compiler "
                                   "(-std=c99 -Wall -Wextra -Werror), the host with UBSan and ASan, the 32-bit ARM "
                                   "cross-compiler (run under qemu-arm); run the harness on the bundle's test vectors "
                                   "and require the hardware kernel's codes, W words and overflow counters; build "
                                   "for a Cortex-M4 and report its size. Writes OUT/firmware.json.")
    p.add_argument("bundle", type=Path, help="bundle directory from `hbf-edge export`")
    p.add_argument("--target", metavar="LIST",
                   help="comma-separated subset of host,sanitizers,arm32,cortex-m4 (default: every one whose "
                        "toolchain is installed; a listed one that is not installed is an error)")
    p.add_argument("--instructions", action="store_true",
                   help="also count the ARM instructions per channel under qemu-arm (single-step, slow: ~6 s per "
                        "channel of the demo model)")
    p.add_argument("--out", type=Path, help="directory for firmware.json (default BUNDLE/firmware)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines")

    p = sub.add_parser("report", help="render a run folder's results and plots as one self-contained HTML page",
                       description="Every result file under DIR (results, retention, profile, simulate JSON), its "
                                   "tables, every PNG figure (embedded), the model settings and the package "
                                   "versions, in one HTML file.")
    p.add_argument("run_dir", type=Path, metavar="DIR", help="a run folder (a demo's, or any command's output)")
    p.add_argument("--out", type=Path, help="folder for report.html (default DIR)")

    p = sub.add_parser("sweep", help="a grid of models x stages x SNRs x phase bits x word lengths on many channels, "
                                     "on Dask (local cluster by default), resumable",
                       description="Run the points of SPEC (TOML: models, stages, snr_db, phase_bits, word_bits, "
                                   "precision files, channels, chunk, seed, [stop], [qat], [[points]]) on chunks of "
                                   "channels drawn on the workers. Writes OUT/results.parquet (one row per point x "
                                   "chunk, exact sufficient statistics), timings.parquet, summary.json/.csv (95 % "
                                   "intervals) and plots. Rerun with the same spec and --out to finish a killed "
                                   "sweep: only missing chunks are computed.")
    p.add_argument("spec", type=Path, metavar="SPEC", help="sweep spec (.toml)")
    p.add_argument("--out", required=True, type=Path, help="sweep folder (created, or reopened to resume)")
    p.add_argument("--overwrite", action="store_true", help="discard the sweep OUT holds and start again (a folder "
                                                            "that is not a sweep's is never touched)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786), or sync to run every task in this process "
                        "(debugging); default: a new local cluster")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes of the local cluster (default 1)")
    p.add_argument("--worker-threads", type=int, metavar="T", help="threads per worker (default: one per core)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    p = sub.add_parser("keygen", help="write a new key for signed bundles (`export --sign`, `simulate --verify-key`)",
                       description="Write 32 random bytes (64 hex digits) to a new owner-only file. Bundles signed "
                                   "with it carry an HMAC-SHA256 of their manifest; the key is shared by the "
                                   "exporter and the controller and must stay secret.")
    p.add_argument("--out", required=True, type=Path, help="folder for bundle.key (a key is never overwritten)")

    p = sub.add_parser("calibration", help="write a random per-code calibration file for `simulate`",
                       description="Independent uniform per-code phase (and gain) errors, a stand-in for a "
                                   "measured calibration table.")
    p.add_argument("--out", required=True, type=Path, help="folder for calibration.json")
    p.add_argument("--phase-bits", "-Q", type=int, default=4, help="phase bits of the table (default 4)")
    p.add_argument("--phase-error-deg", type=float, default=3.0, help="phase errors within +-this (default 3)")
    p.add_argument("--gain-error-db", type=float, default=0.0, help="gain errors within +-this (default 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    bench = groups["bench"]
    b = bench.add_parser("kernels", help="per-channel latency of the UPGA Numba kernels beside torch and onnxruntime",
                         description="Per-channel latency of the UPGA forward: Numba float64, float32 and hardware "
                                     "(Q=4) kernels, torch eager, torch.compile and onnxruntime on the exported "
                                     "float graph, for each N and batch, every cell in a fresh process; median and "
                                     "quartiles, analytic flops, the machine's single-core float64 matmul rate and "
                                     "the ratio to the arithmetic floor.")
    b.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 256], metavar="N",
                   help="antenna counts N (default 32 64 256)")
    b.add_argument("--batches", type=int, nargs="+", default=[1, 1024], metavar="B",
                   help="batch sizes (default 1 1024)")
    b.add_argument("--layers", "-I", type=int, default=10, help="outer layers I (default 10)")
    b.add_argument("--inner", "-J", type=int, default=1, help="F-steps per layer J (default 1)")
    b.add_argument("--repeat", type=int, default=7, help="timed runs per figure; the median is kept (default 7)")
    b.add_argument("--backends", nargs="+", choices=["numba_float64", "numba_float32", "numba_hardware",
                                                     "numba_float64_session", "numba_hardware_session", "torch_eager",
                                                     "torch_compile", "onnxruntime"],
                   help="backends to time (default: all)")
    b.add_argument("--out", type=Path, help="also write the JSON to this folder's bench.json")
    _quiet(b)
    t = bench.add_parser("threads", help="wall time of toolkit commands under thread settings, alone and two at once",
                         description="Each command in a fresh process, alone and as two copies started together, "
                                     "under the toolkit's thread policy, all threads, and one thread everywhere; "
                                     "JSON with every wall time and each setting against the best of its cell.")
    t.add_argument("--commands", nargs="+", choices=["train", "demo-quick"], default=["train", "demo-quick"],
                   help="commands to time (default both)")
    t.add_argument("--repeat", type=int, default=2, help="runs per cell (default 2)")
    t.add_argument("--out", type=Path, help="also write the JSON to this folder's bench.json")
    _quiet(t)
    o = bench.add_parser("onnx", help="a UPGA bundle's quantized ONNX against the QAT model and the kernel",
                         description="Run BUNDLE/model.qcdq.onnx in onnxruntime on fresh channels (SNR drawn from "
                                     "-10..20 dB) and print, as JSON, the fractions of phase codes and W words equal "
                                     "to the QAT model's (QUANT_MODEL_DIR) and the hardware kernel's, with timings.")
    o.add_argument("model_dir", type=Path, metavar="QUANT_MODEL_DIR", help="the quantized model the bundle came from")
    o.add_argument("bundle", type=Path, metavar="BUNDLE", help="a bundle written by 'hbf-edge export'")
    o.add_argument("--count", type=int, default=1000, help="channels (default 1000)")
    o.add_argument("--seed", type=int, default=DEFAULT_TEST_SEED, help=f"channel seed (default {DEFAULT_TEST_SEED})")

    p = sub.add_parser("demo", help="the main job: the whole toolkit on the embedded default",
                       description="Run the toolkit end to end on the embedded default configuration "
                                   "(N=64, M=K=4, I=10, J=1): train UPGA, evaluate it against the baselines, "
                                   "QAT to 4-bit phases and 12-bit W, export the bundle, replay it in the RF "
                                   "controller simulator, and write OUT/report.md and OUT/report.html.")
    p.add_argument("--out", type=Path, default=Path("hbf-edge-demo"), help="output directory (default hbf-edge-demo)")
    p.add_argument("--quick", action="store_true", help="small sizes for CI (well under a minute)")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder the demo did not make (it replaces its own subfolders)")
    p.add_argument("--no-precompile", dest="precompile", action="store_false",
                   help="do not compile the export's and profile's kernels in a background process while the "
                        "first stages run (it only runs until a demo has completed it for these sources)")
    _quiet(p)
    return parser
