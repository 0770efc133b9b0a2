"""``hbf-edge demo``: the toolkit end to end on the embedded default configuration.

channels -> float UPGA training -> evaluation against the baselines -> QAT to 4-bit phases and
12-bit W (with both PTQ baselines) -> bundle export -> replay in the RF controller simulator ->
per-layer profile -> ``report.md`` and ``report.html`` (``hbf-edge report``).  Every stage writes
what its own command would, under one output directory::

    OUT/model  OUT/eval  OUT/qat  OUT/bundle  OUT/sim  OUT/profile  OUT/report.md  OUT/report.html

This module ties the stages together, so it (like the CLI) may call ``firmware_sim``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hbf_edge import _precompile

if TYPE_CHECKING:
    from hbf_edge._process import SideProcess

__all__ = ["run_demo", "DEMO_PHASE_BITS", "DEMO_PRECODER_BITS"]

TARGETS = Path(__file__).resolve().parent / "targets"
DEMO_PHASE_BITS = 4
DEMO_PRECODER_BITS = 12
TEST_SEED = 2026
FLOAT32 = "numba_float32"  # the profile backend the second precompilation part compiles
SNRS = [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0]  # the evaluation's (``hbf-edge evaluate``'s default)
EVALUATE = "evaluate against the baselines"


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


@dataclasses.dataclass(frozen=True)
class _Plan:
    """The sizes of a demo run (the default, ``--quick``, and the background precompilation's)."""

    train: dict[str, Any]  # TrainConfig fields besides the defaults
    qat_size: int
    qat_epochs: int
    n_test: int
    n_beams: int
    batches: tuple[int, int]
    repeat: int
    min_run_s: float
    # evaluate in a second process beside the QAT (two cores): the full plan's QAT (31-41 s)
    # hides its evaluation (9-11 s); the quick one's (1-1.4 s) does not hide the second process's
    # start and evaluation (about 7 s): 19.2-20.9 s against 17.0-18.7 s for the whole quick demo
    # (three alternations, 2026-12-07, README "The demo's evaluation beside its QAT")
    evaluate_beside: bool = False


_PLANS = {
    "full": _Plan({}, 500, 5, 1000, 200, (1, 256), 5, 0.02, evaluate_beside=True),
    "quick": _Plan({"train_size": 100, "epochs": 3}, 50, 1, 200, 50, (1, 64), 2, 0.0),
    # every stage on small sizes, for :func:`precompile_stages`: the same compiled kernels (Numba
    # specialises on types, not sizes), batches on both sides of the serial threshold
    "tiny": _Plan({"n_antennas": 8, "n_rf": 2, "n_users": 2, "n_paths": 3, "n_layers": 2, "train_size": 8,
                   "epochs": 1, "batch_size": 4}, 8, 1, 8, 8, (1, 8), 1, 0.0),
}


def run_demo(out: str | Path, quick: bool = False, progress: bool = True,
             log: Callable[[str], None] | None = None, overwrite: bool = False,
             precompile: bool = True) -> dict[str, Any]:
    """Run every stage; return the summary that ``report.md`` shows.

    ``log`` receives one line per stage start and end (the CLI passes ``print``); silent by
    default, as library code is.  ``out`` must be new, empty or an earlier demo's folder, unless
    ``overwrite``: the demo replaces its own subfolders (``model/``, ``qat/``, ...).
    ``precompile``: while the first stages train, background processes compile the Numba
    kernels of the later stages into the cache (:mod:`hbf_edge._precompile`; skipped when an
    earlier run did so for these sources).  On two or more cores the full demo's
    evaluation runs as ``hbf-edge evaluate`` in a second process while this one runs QAT
    (:func:`_evaluation_beside`).
    """
    from hbf_edge.errors import ConfigError

    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists() and not overwrite)):
        raise ConfigError(f"{out} is not empty and was not made by hbf-edge demo: choose another --out "
                          "(or pass --overwrite to let the demo replace its subfolders there)")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()
    log = log or (lambda line: None)
    background: list[_precompile.Background] = []
    try:  # a part that fails to start stops those started before it
        for part, (_, nice) in (_PRECOMPILE.items() if precompile else ()):
            started = _precompile.start("hbf_edge.demo", part, nice)
            background += [started] if started is not None else []
        if background:
            log(f"[demo] compiling the later stages' kernels in {len(background)} background "
                f"process{'es' if len(background) > 1 else ''} meanwhile (a first run for these sources; "
                "--no-precompile turns it off)")
        summary = _run(out, quick, progress, log)
    except BaseException:  # a failed or interrupted demo: its own error is the one to read
        for b in background:
            _precompile.stop(b)
        raise
    for note in [_precompile.stop(b) for b in background]:
        if note:
            log(f"[demo] {note}")
    return summary


def _run(out: Path, quick: bool, progress: bool, log: Callable[[str], None]) -> dict[str, Any]:
    from hbf_edge import firmware_sim
    from hbf_edge.export import read_bundle

    from hbf_edge._demo_report import demo_report
    from hbf_edge._io import atomic_file, dumps
    from hbf_edge.results import stamp, write_result
    from hbf_edge.plots import plot_beampattern, plot_rate_vs_snr
    from hbf_edge.report import render_report

    times: dict[str, float] = {}
    plan = _PLANS["quick" if quick else "full"]
    H_test = _test_channels(plan)
    with _stage(log, "train float UPGA", times):
        model, config = _train(plan, out, progress)
    beside = _evaluation_beside(plan, out)  # None: the evaluation runs here first
    if beside is None:
        with _stage(log, EVALUATE, times):
            results = _evaluate(plan, out, SNRS, progress)
    else:
        log(f"[demo] {EVALUATE}: in a second process, beside the QAT ...")
    try:
        with _stage(log, f"QAT to {DEMO_PHASE_BITS}-bit phases, {DEMO_PRECODER_BITS}-bit W", times):
            ret = _qat(model, config, plan, out, H_test, progress)
        if beside is not None:
            t0 = time.perf_counter()
            results = _take_evaluation(beside, out)
            times[f"{EVALUATE} (its own time, beside the QAT)"] = results["wall_seconds"]
            times["waited for the evaluation after the QAT"] = round(time.perf_counter() - t0, 2)
            log(f"[demo] {EVALUATE}: {results['wall_seconds']} s, beside the QAT "
                f"(waited {times['waited for the evaluation after the QAT']} s after it)")
    finally:
        if beside is not None:
            beside.close()
    plot_rate_vs_snr(results, out / "eval" / "rate_vs_snr.png",  # the headline plot, with the quantized designs
                     extra={f"QAT, Q={DEMO_PHASE_BITS}, W {DEMO_PRECODER_BITS} bits (hardware datapath)":
                            (ret["snr_db"], ret["sum_rate"]["quantized"])})
    with _stage(log, "export the bundle", times):
        _export(plan, out, H_test)
        verified = read_bundle(out / "bundle").manifest["verified"]
    with _stage(log, "replay in the RF controller simulator", times):
        sim, patterns = firmware_sim.simulate(out / "bundle")
        (out / "sim").mkdir(exist_ok=True)
        write_result(out / "sim" / "simulate.json", stamp(sim, "simulation", "upga", None))
        plot_beampattern(patterns, out / "sim" / "beampattern.png", title="channel 0, ideal calibration")
    with _stage(log, "profile per layer", times):
        prof = _profile(plan, out, progress)
    summary = {"quick": quick, "seconds": times, "evaluation": results, "retention": ret, "simulation": sim,
               "profile": prof, "n_test": plan.n_test, "n_beams": plan.n_beams, "onnx_verified": verified}
    with atomic_file(out / "report.md") as tmp:
        tmp.write_text(demo_report(summary))
    with atomic_file(out / "summary.json") as tmp:
        tmp.write_text(dumps(summary, "the demo summary") + "\n")
    render_report(out)
    return summary


def precompile_stages(work: Path) -> None:
    """The stages whose kernels a first demo would compile, on the tiny plan in ``work``: the
    float model, its evaluation and its QAT (they make the model the others need), then the
    export and the profile, in the order the demo reaches them (the first part of the background
    precompilation, :mod:`hbf_edge._precompile`: ``python -m hbf_edge.demo WORK STAMP stages 10``);
    the profile's float32 backend is the second part's (:func:`precompile_float32`).

    The profile's Numba backends and batches run in the reverse of the demo's order: a demo that
    reaches its profile while this process still compiles (measured: it does, on a 2-core
    machine) compiles from the other end, so the two processes share the remaining kernels
    between the two cores instead of compiling the same ones side by side."""
    from hbf_edge.profiling import BACKENDS, profile_model

    plan = _PLANS["tiny"]
    H = _test_channels(plan)
    model, config = _train(plan, work, False)
    _evaluate(plan, work, [10.0], False)  # its PGA baselines run on the float kernel
    _qat(model, config, plan, work, H, False)
    _export(plan, work, H)
    numba_backends = tuple(b for b in BACKENDS if b.startswith("numba_") and b != FLOAT32)
    profile_model(work / "qat", batches=plan.batches[::-1], backends=numba_backends[::-1], repeat=plan.repeat,
                  min_run_s=plan.min_run_s)


def precompile_float32(work: Path) -> None:
    """The float32 kernels of the demo's profile (the float forward's channel loop in float32 and
    the profile's stage loops), on a tiny float model: the second part of the background
    precompilation, which the demo reaches last and nothing before it needs."""
    from hbf_edge.profiling import profile_model

    plan = _PLANS["tiny"]
    _train(plan, work, False)
    profile_model(work / "model", batches=plan.batches[::-1], backends=(FLOAT32,), repeat=plan.repeat,
                  min_run_s=plan.min_run_s)


# the parts of the background precompilation (:mod:`hbf_edge._precompile`) and their ``nice``:
# the demo's stages in order first; the float32 part only on what they leave idle
_PRECOMPILE = {"stages": (precompile_stages, 10), "float32": (precompile_float32, 19)}


def _test_channels(plan: _Plan) -> Any:
    from hbf_edge.channels import saleh_valenzuela_miso
    from hbf_edge.training import TrainConfig

    cfg = TrainConfig(**plan.train)
    return saleh_valenzuela_miso(plan.n_test, cfg.n_antennas, cfg.n_users, cfg.n_paths, seed=TEST_SEED)


def _train(plan: _Plan, out: Path, progress: bool) -> tuple[Any, Any]:
    from hbf_edge.modeldir import save_model
    from hbf_edge.training import TrainConfig, train_upga

    model, config = train_upga(TrainConfig(**plan.train), progress=progress)
    save_model(model, config, out / "model", overwrite=True)
    return model, config


def _evaluate(plan: _Plan, out: Path, snr_db: list[float], progress: bool) -> dict[str, Any]:
    """The UPGA family's own ``evaluate`` stage on ``out/model`` and the demo's test channels
    (``--count``, ``--seed``): ``results.json`` and the plots in ``out/eval``; its results.  The
    same stage that the second process runs as ``hbf-edge evaluate`` (:func:`_evaluation_beside`);
    the demo's report prints the rate table, so the stage's own messages are not printed."""
    from hbf_edge.families import CORE

    core = CORE.get("upga")
    settings = core.eval_settings(model_dir=out / "model", out=out / "eval", count=plan.n_test, seed=TEST_SEED,
                                  snr=list(snr_db), quiet=not progress)
    return core.evaluate(settings, say=lambda _message: None)


def _evaluation_beside(plan: _Plan, out: Path) -> SideProcess | None:
    """``hbf-edge evaluate`` of the trained model on the demo's test channels, started in a second
    process, when the plan asks for it and the thread policy allows two cores (else ``None``).

    Why: the QAT that follows keeps one core busy with single-threaded torch, and the evaluation
    needs only the float model; run one after the other they took 9.8-15.0 + 31.4-40.7 s of the
    demo (README, "The demo's evaluation beside its QAT").  The command draws the same channels
    (``--count``, ``--seed``) and writes what the demo wrote here (tested equal)."""
    from hbf_edge._process import SideProcess, side_cores
    from hbf_edge.errors import SecondProcessError

    if not plan.evaluate_beside or side_cores() < 2:
        return None
    return SideProcess("the demo's evaluation", lambda side_out: [
        "-m", "hbf_edge", "evaluate", str(out / "model"), "--out", str(side_out), "--count", str(plan.n_test),
        "--seed", str(TEST_SEED), "--snr", *map(str, SNRS), "--quiet"], SecondProcessError)


def _take_evaluation(beside: SideProcess, out: Path) -> dict[str, Any]:
    """Wait for the second process's evaluation; move its files into ``out/eval``; its results."""
    import json
    import shutil

    done = beside.result()
    (out / "eval").mkdir(exist_ok=True)
    for path in sorted(done.iterdir()):
        shutil.move(path, out / "eval" / path.name)
    return json.loads((out / "eval" / "results.json").read_text())


def _qat(model: Any, config: Any, plan: _Plan, out: Path, H_test: Any, progress: bool) -> dict[str, Any]:
    """QAT with ``quantize``'s default recipe at the demo's Q, saved in ``out/qat`` with its
    retention against the float model."""
    from hbf_edge.hw.spec import FixedPointFormat
    from hbf_edge.quant import PrecisionConfig, save_quantized, train_qat
    from hbf_edge.quant.upga.evaluate import retention
    from hbf_edge.quant.upga.stage import HardwareOptions
    from hbf_edge.quant.upga.train import output_xi_for
    from hbf_edge.results import stamp, write_result
    from hbf_edge.training import TrainConfig

    stage, internal = HardwareOptions().recipe(DEMO_PHASE_BITS)  # quantize's default recipe at this Q
    precision = PrecisionConfig.from_bits(config.spec, config.n_layers, DEMO_PHASE_BITS,
                                          FixedPointFormat(DEMO_PRECODER_BITS, DEMO_PRECODER_BITS - 2), internal)
    loop = TrainConfig(**{**plan.train, "train_size": plan.qat_size, "epochs": plan.qat_epochs}, lr=1e-2, seed=1)
    qmodel, qconfig = train_qat(model, config, precision, loop, progress=progress, output_xi=output_xi_for(stage))
    save_quantized(qmodel, qconfig, out / "qat", overwrite=True)
    ret = retention(model, qmodel, H_test, [10.0, 20.0], designs=functools.partial(_kernel_designs, out / "qat"))
    ret["recipe"] = {"output_stage": stage, "internal_phase_bits": internal, "code_search": None}
    ret = stamp(ret, "retention", "upga", out / "qat", method="qat")
    write_result(out / "qat" / "retention.json", ret)
    return ret


def _kernel_designs(model_dir: Path, H: Any, p_t: Any, noise: Any) -> tuple[Any, Any, Any]:
    """The QAT model's designs by the integer kernel (the demo's recipe has no code search, so
    they are the torch network's code for code and word for word; 16x faster, see
    :func:`hbf_edge.quant.upga.evaluate.retention`)."""
    from hbf_edge.kernels.upga.stage import hardware_design

    r = hardware_design(model_dir, H, p_t, noise)
    return r.codes, r.analog(), r.digital()


def _export(plan: _Plan, out: Path, H_test: Any) -> None:
    from hbf_edge.export import write_bundle

    write_bundle(out / "qat", out / "bundle", H_test[:plan.n_beams], snr_db=10.0, overwrite=True)


def _profile(plan: _Plan, out: Path, progress: bool) -> dict[str, Any]:
    from hbf_edge.export.upga.profile import onnxruntime_stages
    from hbf_edge.plots import plot_profile
    from hbf_edge.profiling import load_target, profile_model
    from hbf_edge.results import stamp, write_result

    prof = profile_model(out / "qat", batches=plan.batches, repeat=plan.repeat, min_run_s=plan.min_run_s,
                         target=load_target(TARGETS / "dsp.toml"), progress=progress, onnxruntime=onnxruntime_stages)
    write_result(out / "profile" / "profile.json", stamp(prof, "profile", "upga", out / "qat"))
    plot_profile(prof, str(max(int(b) for b in prof["measured"])), out / "profile" / "profile.png")
    return prof


if __name__ == "__main__":  # the background precompilation that run_demo starts
    import sys

    sys.exit(_precompile.run(sys.argv[1], sys.argv[2], _PRECOMPILE[sys.argv[3]][0], int(sys.argv[4])))
