"""``hbf-edge quantize`` and ``hbf-edge study quantization`` for UPGA models: QAT or PTQ at Q
phase bits, the retention tables against the float model, the PTQ baselines and the hardware
kernel (with the optional output stage and code search)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from hbf_edge.errors import ConfigError, ModelDirError
from hbf_edge.cli._parser import DEFAULT_TEST_SEED

__all__ = ["cmd_quantize", "cmd_study", "precoder_format"]


def precoder_format(bits: int) -> Any:
    from hbf_edge.hw.spec import FixedPointFormat

    if not 3 <= bits <= 32:
        raise ConfigError(f"--precoder-bits must be in 3..32, got {bits}")
    return FixedPointFormat(bits, bits - 2)  # normalised W: entries below 2 in magnitude


def _code_search(args: argparse.Namespace) -> dict[str, int] | None:
    """``--code-search`` / ``--search-span`` as the model directory's ``code_search``, checked."""
    if args.code_search is None:
        return None
    from hbf_edge.kernels.upga.hardware import CodeSearch

    if args.output_stage == "none":
        raise ConfigError("--code-search scores codes with the output stage's W: pass --output-stage wiener or zf")
    return CodeSearch(args.code_search, args.search_span).to_dict()


def _hardware_row(result: dict[str, Any], model: Any, model_dir: Path, H: Any) -> None:
    """Add the hardware kernel's sum rates (with the model's code search, if any) to a
    retention record as ``hardware``; with a search, also PTQ-refit given the same search
    (``ptq_refit_search``), the baseline the search should be judged against."""
    import numpy as np

    from hbf_edge.kernels.upga.hardware import model_search
    from hbf_edge.quant import load_quantized

    from hbf_edge.baselines import sum_rate_np
    from hbf_edge.families.upga.hardware import hardware_sum_rates
    from hbf_edge.quant.upga.ptq import ptq_refit_search
    from hbf_edge.hw.spec import code_to_phase
    from hbf_edge.training import snr_db_to_power

    rows = {"hardware": hardware_sum_rates(model_dir, H, result["snr_db"])}
    _, config, precision = load_quantized(model_dir)
    search = model_search(config)
    if search is not None:
        rows["ptq_refit_search"] = []
        for snr in result["snr_db"]:
            p_t, n = np.full(H.shape[0], float(snr_db_to_power(snr, 1.0))), np.ones(H.shape[0])
            codes, W = ptq_refit_search(model, H, p_t, n, precision.layer_specs()[-1], search)
            F = np.exp(1j * code_to_phase(codes, precision.layer_specs()[-1].phase_bits))
            rows["ptq_refit_search"].append(float(sum_rate_np(H, F @ W, n).mean()))
    for name, rates in rows.items():
        result["sum_rate"][name] = rates
        result["retention"][name] = [r / f for r, f in zip(rates, result["sum_rate"]["float"])]


def cmd_quantize(args: argparse.Namespace) -> int:
    from hbf_edge.quant import PrecisionConfig, load_quantized, quantized_config, save_quantized, train_qat
    from hbf_edge.quant.upga.train import output_xi_for
    from hbf_edge.quant.upga.evaluate import retention
    from hbf_edge.quant.upga.qat import QuantUPGA

    from hbf_edge._io import atomic_file
    from hbf_edge.channels import saleh_valenzuela_miso
    from hbf_edge.modeldir import load_model
    from hbf_edge.training import TrainConfig

    from hbf_edge.modelfiles import read_model_dir

    family = read_model_dir(args.model_dir)[0].family
    if family != "upga" and args.code_search is not None:
        raise ConfigError(f"--code-search is a stage of the upga hardware datapath; {args.model_dir} holds {family}")
    if family == "deepfp":
        from hbf_edge.cli._deepfp import quantize_deepfp_cmd

        return quantize_deepfp_cmd(args)
    if family == "upganet":
        from hbf_edge.cli._upganet import quantize_upganet

        quantize_upganet(args)
        return 0
    args.lr = 1e-2 if args.lr is None else args.lr
    args.batch_size = 10 if args.batch_size is None else args.batch_size
    args.snr_min = -10.0 if args.snr_min is None else args.snr_min
    args.snr_max = 20.0 if args.snr_max is None else args.snr_max
    args.snr = [10.0, 20.0] if args.snr is None else args.snr
    model, config = load_model(args.model_dir, family="upga")
    if config.precision is not None:
        raise ConfigError(f"{args.model_dir} is already quantized; quantize its float model")
    if args.out.exists() and not args.overwrite:
        raise ModelDirError(f"{args.out} already exists (pass --overwrite to replace it)")
    spec = config.spec
    if args.precision is not None:
        if args.internal_phase_bits is not None:
            raise ConfigError("--internal-phase-bits and --precision both set the layers' phase bits: use one")
        precision = PrecisionConfig.load(args.precision, spec.replace(phase_bits=args.phase_bits), config.n_layers)
    else:
        precision = PrecisionConfig.from_bits(spec, config.n_layers, args.phase_bits,
                                              precoder_format(args.precoder_bits), args.internal_phase_bits)
    output_xi = output_xi_for(args.output_stage)
    search = _code_search(args)
    n_paths = int(config.training.get("n_paths", 10))
    t0 = time.perf_counter()
    if args.method == "qat":
        loop = TrainConfig(n_antennas=spec.n_antennas, n_rf=spec.n_rf, n_users=spec.n_users, n_paths=n_paths,
                           n_layers=config.n_layers, n_inner=config.n_inner, train_size=args.train_size,
                           epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, lr_decay=args.lr_decay,
                           snr_db_min=args.snr_min, snr_db_max=args.snr_max, seed=args.seed)
        qmodel, qconfig = train_qat(model, config, precision, loop, progress=not args.quiet, output_xi=output_xi)
    else:
        qmodel = QuantUPGA(precision.layer_specs(), config.n_inner, model.mu.detach(), model.lam.detach(),
                           xi=output_xi)
        qconfig = quantized_config(config, precision, "ptq", {}, [])
    qconfig.quantization["wall_seconds"] = round(time.perf_counter() - t0, 2)
    if search is not None:
        qconfig.quantization["code_search"] = search
    save_quantized(qmodel, qconfig, args.out, overwrite=args.overwrite)
    qmodel, _, _ = load_quantized(args.out)  # evaluate what was written
    H = saleh_valenzuela_miso(args.test_size, spec.n_antennas, spec.n_users, n_paths, seed=args.test_seed)
    result = retention(model, qmodel, H, list(args.snr))
    _hardware_row(result, model, args.out, H)
    result["method"] = args.method
    result["model_dir"] = str(args.out)
    result["output_xi"] = qmodel.output_xi
    result["code_search"] = search
    with atomic_file(args.out / "retention.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    stage = "none" if qmodel.output_xi is None else f"regularised zero forcing, xi = {qmodel.output_xi:.4g}"
    if search is not None:
        stage += f", after a code search of {search['sweeps']} sweep(s), span {search['span']}"
    print(f"{args.method.upper()} in {qconfig.quantization['wall_seconds']} s; model written to {args.out} "
          f"(output stage: {stage})")
    print(f"sum rate (bit/s/Hz) and retention vs float, {result['n_channels']} held-out channels, "
          f"Q={result['phase_bits']} (last layer), W {result['precoder']['word_bits']} bits:")
    cols = ["ptq_round", "ptq_refit"] + (["ptq_refit_search"] if search is not None else []) + ["quantized", "hardware"]
    print("SNR dB |   float | " + " | ".join(cols) + "   (quantized: the torch QAT/PTQ model; hardware: the "
          "integer kernel" + (", with the code search)" if search is not None else ")"))
    for i, snr in enumerate(result["snr_db"]):
        r, k = result["sum_rate"], result["retention"]
        print(f"{snr:6g} | {r['float'][i]:7.3f} | "
              + " | ".join(f"{r[c][i]:7.3f} ({k[c][i]:.1%})" for c in cols))
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from hbf_edge.quant.upga.study import retention_study

    from hbf_edge._io import atomic_file
    from hbf_edge.channels import saleh_valenzuela_miso
    from hbf_edge.modeldir import load_model
    from hbf_edge.plots import plot_retention
    from hbf_edge.training import TrainConfig

    model, config = load_model(args.model_dir, family="upga")
    spec = config.spec
    n_paths = int(config.training.get("n_paths", 10))
    loop = TrainConfig(n_antennas=spec.n_antennas, n_rf=spec.n_rf, n_users=spec.n_users, n_paths=n_paths,
                       n_layers=config.n_layers, n_inner=config.n_inner, train_size=args.train_size,
                       epochs=args.epochs, lr=args.lr, seed=args.seed)
    H = saleh_valenzuela_miso(args.test_size, spec.n_antennas, spec.n_users, n_paths, seed=DEFAULT_TEST_SEED)
    t0 = time.perf_counter()
    search = _code_search(args)
    result = retention_study(args.model_dir, args.out, list(args.phase_bits), precoder_format(args.precoder_bits),
                             loop, H, list(args.snr), progress=not args.quiet,
                             output_stage=args.output_stage, internal_phase_bits=args.internal_phase_bits,
                             code_search=search)
    for row in result["rows"]:
        _hardware_row(row, model, args.out / f"q{row['phase_bits']}", H)
    result["wall_seconds"] = round(time.perf_counter() - t0, 1)
    with atomic_file(args.out / "retention.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    plot_retention(result, args.out / "retention.png")
    print("retention vs float UPGA (%), " + ", ".join(f"{s:g} dB" for s in result["snr_db"]) + ":")
    cols = {"ptq_round": "round", "ptq_refit": "refit", "quantized": "QAT", "hardware": "kernel"}
    if search is not None:
        cols.update(ptq_refit_search="refit+s", hardware="QAT+s")
    print(" Q | " + " | ".join(" ".join(f"{c:>7}" for c in cols.values()) for _ in result["snr_db"]))
    for r in result["rows"]:
        k = r["retention"]
        cells = [" ".join(f"{100 * k[c][i]:7.2f}" for c in cols) for i in range(len(result["snr_db"]))]
        print(f"{r['phase_bits']:2d} | " + " | ".join(cells))
    print(f"wrote {args.out / 'retention.json'} and retention.png in {result['wall_seconds']} s")
    return 0
