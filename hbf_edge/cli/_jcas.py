"""``hbf-edge evaluate`` for UPGANet (JCAS) model directories: tables, results.json and plots."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError

JCAS_SNRS = [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]


def _name(config: Any) -> str:
    return f"upganet_j{config.n_inner}"


def evaluate_upganet(args: argparse.Namespace, out: Path, H: Any | None) -> dict[str, Any]:
    """Evaluate MODEL_DIR and every ``--compare`` model against conventional PGA and digital ZF:
    rate / MSE / objective vs SNR, convergence at the highest SNR, average beampatterns."""
    from .._io import atomic_file
    from ..channels import saleh_valenzuela_miso, validate_miso_channels
    from ..jcas_eval import average_beampatterns, convergence_jcas, evaluate_jcas
    from ..modeldir import load_model
    from ..plots_jcas import plot_jcas_beampattern, plot_jcas_convergence, plot_jcas_vs_snr

    if args.dump is not None:
        raise ConfigError("--dump is not available for upganet models")
    if args.iterations < 1:
        raise ConfigError(f"--iterations must be >= 1, got {args.iterations}")
    models: dict[str, Any] = {}
    first = None
    for path in [args.model_dir, *args.compare]:
        model, config = load_model(path, family="upganet")
        first = first or config
        if config.spec != first.spec:
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
    results["convergence"] = convergence_jcas(models, H, top, args.iterations, noise=args.noise)
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
