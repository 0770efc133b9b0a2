"""The core stage of UPGANet: train, evaluate and profile (``upganet_jcas.txt``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from hbf_edge.errors import ConfigError, ModelDirError
from hbf_edge.families._protocol import Say, log_say
from hbf_edge.families.upga.core import UpgaCore, train_config
from hbf_edge.results import stamp, write_result
from hbf_edge.families.upganet.config import SPEC, UpganetBench, UpganetEval, UpganetProfile, UpganetTrain

__all__ = ["CORE", "UpganetCore"]


def _sizes(config: Any) -> tuple[int, int, int]:
    return config.spec.n_antennas, config.spec.n_rf, config.spec.n_users


def _name(config: Any) -> str:
    """A model's label in tables and plots: its I, J and (quantized) Q, e.g. ``upganet_i20_j10_q4``."""
    q = f"_q{config.precision['default']['phase_bits']}" if config.precision is not None else ""
    return f"upganet_i{config.n_layers}_j{config.n_inner}{q}"


class UpganetCore(UpgaCore):
    """:class:`~hbf_edge.families._protocol.CoreStage` of UPGANet (channels and training loop
    shared with UPGA)."""

    spec = SPEC
    rescalable = False  # tau = ||F W W^H F^H - P_t Psi_1||^2 is tied to P_t: no equivalent rescaled problem
    train_settings = UpganetTrain
    eval_settings = UpganetEval
    bench_settings = UpganetBench
    profile_settings = UpganetProfile  # no --numerical: its datapath has no tap forward yet
    bench_backends = ("numba_float64", "numba_float32", "numba_hardware", "torch_eager")  # no ONNX export

    def bench(self, s: UpganetBench, load: Any = None) -> dict[str, Any]:
        """Per-layer latency of the kernels and torch, with the MACs (``hbf-edge bench model``)."""
        from hbf_edge.families.upganet.profile import profile_upganet

        batches = tuple(s.batches) if s.batches else self.default_batches
        return profile_upganet(s.model_dir, batches, s.repeat, backends=tuple(s.backends or self.bench_backends))

    def check_config(self, config: Any) -> None:
        """The sensing section: the radar scenario, eta (eq. 15) and how Psi_1 was solved."""
        from hbf_edge.families.upganet.sensing import SensingScenario

        section = config.family_config
        try:
            SensingScenario.from_dict(section["scenario"])
            float(section["eta"])
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ModelDirError(f"a upganet model needs family_config with its sensing scenario and eta: {exc!r}"
                                ) from exc

    def expected_arrays(self, config: Any) -> dict[str, tuple[int, ...]]:
        """The steps and the unit-power benchmark covariance Psi_1 (eq. 4)."""
        n = config.spec.n_antennas
        return {**super().expected_arrays(config), "psi_re": (n, n), "psi_im": (n, n)}

    def build(self, config: Any) -> Any:
        import numpy as np

        from hbf_edge.families.upganet.model import UPGANet
        from hbf_edge.families.upganet.sensing import SensingScenario

        self.check_config(config)
        n = config.spec.n_antennas
        scenario = SensingScenario.from_dict(config.family_config["scenario"])
        return UPGANet(config.n_layers, config.n_inner, config.spec.n_rf, np.zeros((n, n), complex), scenario,
                       eta=float(config.family_config["eta"]))

    def _fit(self, settings: UpganetTrain, H: Any, progress: bool) -> tuple[Any, Any]:
        from hbf_edge.families.upganet.sensing import SensingScenario
        from hbf_edge.training import train_upganet

        scenario = SensingScenario(tuple(settings.targets), settings.delta, settings.grid_points, settings.omega)
        config = train_config(settings, **({} if H is None else {"train_size": int(H.shape[0])}))
        psi = None
        if settings.psi is not None:
            from hbf_edge.families.upganet.sensing import read_psi

            psi1, power = read_psi(settings.psi, settings.n_antennas)
            psi = (psi1, {"method": "file", "path": str(settings.psi), "power_in_file": power})
        return train_upganet(config, scenario, H, progress=progress, psi=psi)

    def evaluate(self, settings: UpganetEval, load: Callable[[Path], tuple[Any, Any]] | None = None,
                 say: Say = log_say) -> dict[str, Any]:
        """MODEL_DIR and every ``compare`` model against conventional PGA and digital ZF: rate,
        MSE and objective vs SNR, convergence at the highest SNR, average beampatterns."""
        from hbf_edge.families.upganet.evaluate import (
            PgaBaseline,
            average_beampatterns,
            convergence_upganet,
            evaluate_upganet,
            tune_pga_steps,
        )
        from hbf_edge.families.upganet.plots import plot_upganet_beampattern, plot_upganet_convergence, plot_upganet_vs_snr

        load = load or self.load
        models: dict[str, Any] = {}
        first = None
        for path in [settings.model_dir, *settings.compare]:
            model, config = load(path)
            if config.family != self.spec.name:
                raise ConfigError(f"{path} holds a {config.family} model; --compare takes upganet models")
            first = first or config
            if _sizes(config) != _sizes(first):  # phase bits may differ: quantized and float compare
                raise ConfigError(f"{path} has other sizes than {settings.model_dir}")
            name = _name(config)
            while name in models:
                name += "'"
            models[name] = model
        if settings.channels is not None:
            H = self.read_channels(settings.channels, first)
        else:
            H = self.draw_channels(first, settings.count, settings.seed)
        snrs = list(settings.snr)
        t0 = time.perf_counter()
        pga = PgaBaseline(settings.pga_layers, settings.pga_inner, settings.pga_mu, settings.pga_lambda)
        tuning = None
        if settings.tune_size > 0:  # validation channels apart from the test ones
            H_val = self.draw_channels(first, settings.tune_size, settings.seed + 1)
            tuning = tune_pga_steps(models, H_val, snrs, pga, settings.noise)
        results = evaluate_upganet(models, H, snrs, settings.noise, progress=not settings.quiet, pga=pga,
                                   tuned=None if tuning is None else (tuning["mu"], tuning["lambda"]),
                                   mse=settings.mse, keep_precoders=settings.dump is not None)
        precoders = results.pop("precoders", None)
        if tuning is not None:
            results["pga_tuning"] = tuning
        top = max(snrs)
        init_steps = (float(first.training["mu0"]), float(first.training["lambda0"]))
        results["convergence"] = convergence_upganet(models, H, top, settings.iterations, noise=settings.noise,
                                                  init_steps=init_steps)
        results["beampattern"] = average_beampatterns(models, H, top, settings.noise)
        results["wall_seconds"] = round(time.perf_counter() - t0, 2)
        results["model_dirs"] = {n: str(p) for n, p in zip(models, [settings.model_dir, *settings.compare])}
        stamp(results, "evaluation", self.spec.name, settings.model_dir,
              metrics={k: results[k] for k in ("sum_rate", "mse_db", "objective")})
        out = settings.out if settings.out is not None else settings.model_dir / "eval"
        write_result(out / "results.json", results)
        plot_upganet_vs_snr(results, out / "jcas_vs_snr.png")
        plot_upganet_convergence(results["convergence"], out / "convergence.png")
        plot_upganet_beampattern(results["beampattern"], out / "beampattern.png")
        if precoders is not None:
            from hbf_edge.families.upga.evaluate import write_dump

            write_dump(settings.dump, H, snrs, settings.noise, precoders)
        methods = list(results["sum_rate"])
        say(f"JCAS on {results['n_channels']} held-out channels (omega={results['omega']}, MSE {settings.mse}); "
            f"pga: J={pga.inner}, fixed steps mu={pga.mu:g}, lambda={pga.lam:g}, {results['pga_layers']} iterations"
            + ("" if tuning is None else f"; pga_tuned: mu={tuning['mu']:g}, lambda={tuning['lambda']:g} chosen on "
                                         f"{tuning['n_channels']} validation channels"))
        for key, title in (("sum_rate", "sum rate (bit/s/Hz)"), ("mse_db", "beampattern MSE (dB)"),
                           ("objective", "R - omega tau")):
            say(f"{title}:")
            say("SNR dB | " + " | ".join(f"{m:>12}" for m in methods))
            for i, snr in enumerate(results["snr_db"]):
                say(f"{snr:6g} | " + " | ".join(f"{results[key][m][i]:12.3f}" for m in methods))
        conv = results["convergence"]
        say(f"objective peak (outer layer) at {conv['snr_db']:g} dB: "
            + ", ".join(f"{k} {v}" for k, v in conv["peak_layer"].items()))
        say(f"wrote {out / 'results.json'}, jcas_vs_snr.png, convergence.png, beampattern.png"
            + (f", {settings.dump}" if settings.dump is not None else "") + f" in {results['wall_seconds']} s")
        return results

    def profile(self, settings: Any, target: dict[str, Any], extra: dict[str, Any],
                say: Say = log_say) -> dict[str, Any]:
        """Per-layer latency per backend and the target estimate; profile.json and .png."""
        from hbf_edge.families.upganet.plots import plot_upganet_profile
        from hbf_edge.families.upganet.profile import profile_upganet

        backends = tuple(settings.backends) if settings.backends else self.default_backends
        batches = tuple(settings.batches) if settings.batches else self.default_batches
        result = profile_upganet(settings.model_dir, batches, settings.repeat, backends=backends, target=target,
                                 onnxruntime=extra.get("onnxruntime"))
        stamp(result, "profile", self.spec.name, settings.model_dir)
        out = settings.out if settings.out is not None else settings.model_dir / "profile"
        write_result(out / "profile.json", result)
        plot_upganet_profile(result, out / "profile.png")
        say(f"UPGANet I={result['I']} J={result['J']}: {result['macs']['layer']:,} real MACs per layer; "
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
            say(f"batch {batch}: " + ", ".join(cells))
        t = result["target"]
        say(f"target {t['name']}: {t['layer']['us']} us per layer, {t['layers_total_us']} us for the "
            f"{result['I']} layers (estimate)")
        say(f"wrote {out / 'profile.json'} and profile.png")
        return result


CORE = UpganetCore()
