"""The core stage of UPGA: train, evaluate and profile (``upga_multiuser_hbf.txt``).

The operations behind ``hbf-edge channels/train/evaluate/profile upga``; each takes the
family's settings dataclass (:mod:`hbf_edge.families.upga.config`) and a ``say`` callable for
the lines a person reads, and returns the machine-readable result.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hbf_edge.errors import ConfigError, ModelDirError
from hbf_edge.results import stamp, write_result
from hbf_edge.families._miso import MisoChannels, gain_shift_db, snrs_outside_training, warn_snrs_outside_training
from hbf_edge.families._protocol import Say, log_say
from hbf_edge.families.upga.config import (SPEC, UpgaChannels, UpgaEval, UpgaProfile, UpgaTrain, refine_between,
                                           refuse_snr_steps)
from hbf_edge.modelfiles import read_model_dir

__all__ = ["CORE", "UpgaCore", "train_config"]


def train_config(s: UpgaTrain, **changes: Any) -> Any:
    """The training loop's :class:`hbf_edge.training.TrainConfig` of these settings."""
    from hbf_edge.training import TrainConfig

    values = dict(n_antennas=s.n_antennas, n_rf=s.n_rf, n_users=s.n_users, n_paths=s.paths,
                  channel_scale=s.channel_scale, n_layers=s.layers, n_inner=s.inner, train_size=s.train_size,
                  epochs=s.epochs, batch_size=s.batch_size, lr=s.lr,
                  lr_decay=s.lr_decay, snr_db_min=s.snr_min, snr_db_max=s.snr_max, mu0=s.mu0, lambda0=s.lambda0,
                  layer_loss=s.layer_loss, steps=s.steps, seed=s.seed, precision=s.precision,
                  refine_above_start=s.refine_above_start,
                  refine_snrs=None if s.refine_snrs is None else tuple(s.refine_snrs),
                  refine_between=refine_between(s), snr_steps=s.snr_steps,
                  snr_knots=None if s.snr_knots is None else tuple(s.snr_knots))
    values.update(changes)
    return TrainConfig(**values)


def format_rate_table(results: dict[str, Any]) -> str:
    """Mean sum rate per SNR (rows) and method (columns), then what each SNR's layer curve says
    (``layer_summary``: the lowest layer against the start, the first layer reaching PGA-30 and
    PGA-100)."""
    methods = list(results["sum_rate"])
    summary = results.get("layer_summary", {})
    lines = ["SNR dB | " + " | ".join(f"{m:>7}" for m in methods)
             + (" | lowest layer - start | first layer >= pga30, pga100" if summary else "")]
    for i, snr in enumerate(results["snr_db"]):
        line = f"{snr:6g} | " + " | ".join(f"{results['sum_rate'][m][i]:7.3f}" for m in methods)
        if summary:
            s = summary[f"{snr:g}"]
            first = s["first_layer_reaching"]
            line += (f" | {s['lowest_layer_minus_start']:+20.3f} | "
                     + ", ".join("-" if first[k] is None else str(first[k]) for k in ("pga30", "pga100")))
        lines.append(line)
    return "\n".join(lines)


class UpgaCore(MisoChannels):
    """:class:`~hbf_edge.families._protocol.CoreStage` of UPGA."""

    spec = SPEC
    rescalable = True  # the sum rate is invariant under (H, P_t, W) -> (H / c, c^2 P_t, c W)
    channel_settings = UpgaChannels
    train_settings = UpgaTrain
    eval_settings = UpgaEval
    profile_settings = UpgaProfile
    default_backends = None  # every backend the model can run (onnxruntime_qcdq: quantized models only)
    default_batches = (1, 256)

    def check_config(self, config: Any) -> None:
        """UPGA's section, if any, holds the law of SNR-dependent steps: ``{"snr_steps": {"law",
        "snr_db"}}`` (:mod:`hbf_edge.families.upga.snr_steps`)."""
        section = config.family_config
        if not section:
            return
        if set(section) != {"snr_steps"}:
            raise ModelDirError(f"a {self.spec.name} model's family_config holds only snr_steps, got {sorted(section)}")
        try:
            self.snr_law(config)
        except ConfigError as exc:
            raise ModelDirError(f"{self.spec.name} model: {exc}") from exc

    @staticmethod
    def snr_law(config: Any) -> Any:
        """The directory's :class:`~hbf_edge.families.upga.snr_steps.SnrLaw`, None if its steps are shared."""
        from hbf_edge.families.upga.snr_steps import SnrLaw

        section = (config.family_config or {}).get("snr_steps")
        return None if section is None else SnrLaw.from_section(section)

    def expected_arrays(self, config: Any) -> dict[str, tuple[int, ...]]:
        """The trainable steps: ``mu [I, J]`` (F) and ``lam [I]`` (W), Algorithm 1 (and, when the
        steps depend on the SNR, their log-gains ``mu_snr [G, I, J]``, ``lam_snr [G, I]``)."""
        shapes = {"mu": (config.n_layers, config.n_inner), "lam": (config.n_layers,)}
        if "snr_steps" in (config.family_config or {}):
            G = self.snr_law(config).n_points
            shapes.update(mu_snr=(G, *shapes["mu"]), lam_snr=(G, *shapes["lam"]))
        return shapes

    def build(self, config: Any) -> Any:
        """A freshly initialised float network of this configuration (torch)."""
        from hbf_edge.families.upga.model import UPGA

        return UPGA(config.n_layers, config.n_inner, config.spec.n_rf, snr_law=self.snr_law(config))

    def torch_forward(self, model: Any, H: np.ndarray, snr_db: float = 10.0, noise: float = 1.0
                      ) -> dict[str, np.ndarray]:
        """The torch network on channels ``H [B, N, K]``: ``F [B, N, M]``, ``W [B, M, K]`` complex128
        (the same keys as the kernel stage's ``forward``)."""
        import torch

        from hbf_edge.units import snr_db_to_power

        B = H.shape[0]
        args = [np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag),
                np.full(B, float(snr_db_to_power(snr_db, noise))), np.full(B, float(noise))]
        with torch.no_grad():
            f_re, f_im, w_re, w_im = (t.numpy() for t in model(*[torch.from_numpy(a) for a in args]))
        return {"F": f_re + 1j * f_im, "W": w_re + 1j * w_im}

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        """The float torch network and ModelConfig of a directory."""
        from hbf_edge.modeldir import load_model

        return load_model(model_dir, family=self.spec.name)

    def _fit(self, settings: UpgaTrain, H: np.ndarray | None, progress: bool) -> tuple[Any, Any]:
        from hbf_edge.training import train_upga

        return train_upga(train_config(settings, **({} if H is None else {"train_size": int(H.shape[0])})), H,
                          progress=progress)

    def train(self, settings: UpgaTrain, say: Say = log_say) -> dict[str, Any]:
        """Train in float and write the model directory ``settings.out`` (eq. 4 objective)."""
        from hbf_edge.channels import check_channel_shape, read_channel_array
        from hbf_edge.modeldir import save_model

        if settings.out.exists() and not settings.overwrite:  # fail before training, not after
            raise ModelDirError(f"{settings.out} already exists (pass --overwrite to replace it)")
        H = None
        if settings.channels is not None:
            H = check_channel_shape(read_channel_array(settings.channels), self.spec.channel_axes,
                                    (settings.n_antennas, settings.n_users), str(settings.channels))
        t0 = time.perf_counter()
        model, model_config = self._fit(settings, H, progress=not settings.quiet)
        model_config.training["wall_seconds"] = round(time.perf_counter() - t0, 2)
        if settings.channels is not None:
            model_config.training["channels"] = str(settings.channels)
        save_model(model, model_config, settings.out, overwrite=settings.overwrite)
        epochs = [h for h in model_config.history if "epoch" in h]
        loss = f"final epoch loss {epochs[-1]['loss']:.4f}" if epochs else "no epoch run"
        refined = [h for h in model_config.history if "refine" in h]
        if refined:  # refine.py's record: on the training channels
            r = refined[-1]
            per = r.get("per_snr", {"": r})
            loss += "; refined above the start (training channels): " + ", ".join(
                f"{f'at {k} dB ' if k else ''}last layer {v['rate_last']:.4f} bit/s/Hz, lowest layer "
                f"{v['lowest_layer_minus_start']:+.3f} over the start" for k, v in per.items())
        say(f"trained {self.spec.name} I={settings.layers} J={settings.inner} in "
            f"{model_config.training['wall_seconds']} s; {loss}; model written to {settings.out}")
        return {"model_dir": str(settings.out), "wall_seconds": model_config.training["wall_seconds"],
                "history": model_config.history}

    def evaluate(self, settings: UpgaEval, load: Callable[[Path], tuple[Any, Any]] | None = None,
                 say: Say = log_say) -> dict[str, Any]:
        """Sum rate vs SNR and vs layers against PGA-30/100, OMP and ZF; results.json and plots.

        The per-layer curves need the float network, so a quantized directory is evaluated
        through its (QAT-trained) float steps; ``load`` is not used (the quantized design's
        sum rate is in ``hbf-edge quantize``'s retention table)."""
        from hbf_edge.families.upga.evaluate import evaluate, write_dump
        from hbf_edge.plots import plot_rate_vs_layers, plot_rate_vs_snr

        model, config = self.load(settings.model_dir)
        if settings.channels is not None:
            H = self.read_channels(settings.channels, config)
        else:
            H = self.draw_channels(config, settings.count, settings.seed)
        out = settings.out if settings.out is not None else settings.model_dir / "eval"
        t0 = time.perf_counter()
        scale = 1.0
        if settings.rescale_channels:
            shift = gain_shift_db(config, H)
            scale = 10.0 ** (shift / 20.0)
            lo, hi, outside = snrs_outside_training(config, list(settings.snr), shift)
            say(f"designing on channels scaled by {-shift:+.1f} dB onto the training gain (the same problem at "
                f"{shift:+.1f} dB of SNR)" + (f"; at {', '.join(f'{x:g}' for x in outside)} dB that is outside the "
                                              f"training SNRs [{lo:g}, {hi:g}] dB" if outside else ""))
        else:
            warn_snrs_outside_training(config, list(settings.snr))
        results, precoders = evaluate(model, H, list(settings.snr), settings.noise,
                                      keep_precoders=settings.dump is not None, progress=not settings.quiet,
                                      design_scale=scale)
        results["wall_seconds"] = round(time.perf_counter() - t0, 2)
        stamp(results, "evaluation", self.spec.name, settings.model_dir, metrics={"sum_rate": results["sum_rate"]})
        write_result(out / "results.json", results)
        plot_rate_vs_snr(results, out / "rate_vs_snr.png")
        plot_rate_vs_layers(results, out / "rate_vs_layers.png")
        if settings.dump is not None:
            write_dump(settings.dump, H, list(settings.snr), settings.noise, precoders)
        say(f"mean sum rate (bit/s/Hz) on {results['n_channels']} held-out channels:")
        say(format_rate_table(results))
        say(f"wrote {out / 'results.json'}, rate_vs_snr.png, rate_vs_layers.png"
            + (f", {settings.dump}" if settings.dump else ""))
        return results

    def profile(self, settings: UpgaProfile, target: dict[str, Any], extra: dict[str, Any],
                say: Say = log_say) -> dict[str, Any]:
        """Per-stage latency per backend, op counts, target estimate; profile.json and .png (with
        ``numerical``: :meth:`numerical`)."""
        from hbf_edge.plots import plot_profile
        from hbf_edge.profiling import format_profile, profile_model

        refuse_snr_steps(read_model_dir(settings.model_dir)[0].family_config, settings.model_dir, "profile takes")
        if settings.numerical:
            return self.numerical(settings, say)
        backends = tuple(settings.backends) if settings.backends else self.default_backends
        batches = tuple(settings.batches) if settings.batches else self.default_batches
        repeat = settings.repeat if settings.repeat is not None else 5
        result = profile_model(settings.model_dir, batches, backends, repeat, target=target,
                               progress=not settings.quiet, onnxruntime=extra.get("onnxruntime"),
                               onnxruntime_qcdq=extra.get("onnxruntime_qcdq"))
        stamp(result, "profile", self.spec.name, settings.model_dir)
        out = settings.out if settings.out is not None else settings.model_dir / "profile"
        write_result(out / "profile.json", result)
        plot_profile(result, str(max(batches)), out / "profile.png")
        for b in result["measured"]:
            say(format_profile(result, b))
        say(f"wrote {out / 'profile.json'} and profile.png")
        return result


    def numerical(self, settings: UpgaProfile, say: Say = log_say) -> dict[str, Any]:
        """``profile --numerical``: numerical.json, numerical.png and, with the advisor,
        advised_precision.toml (:mod:`hbf_edge.families.upga.numerical`)."""
        from hbf_edge._io import atomic_file
        from hbf_edge.families.upga.numerical import format_numerical, numerical_profile
        from hbf_edge.hw.precision import PrecisionConfig, template_toml
        from hbf_edge.plots import plot_numerical

        target = 0.99 if settings.retention_target is None else settings.retention_target
        if settings.snr is not None and len(settings.snr) != 1:
            raise ConfigError("UPGA's numerical profile takes one --snr (its advisor runs at one SNR)")
        result, sample = numerical_profile(settings.model_dir, self, settings.count or 500,
                                           10.0 if settings.snr is None else settings.snr[0], settings.seed or 0,
                                           target or None, say=say)
        stamp(result, "numerical", self.spec.name, settings.model_dir)
        out = settings.out if settings.out is not None else settings.model_dir / "profile"
        write_result(out / "numerical.json", result)
        plot_numerical(result, sample, out / "numerical.png")
        written = "numerical.png"
        if "advisor" in result:
            config, _ = read_model_dir(settings.model_dir)
            adv = result["advisor"]
            advised = PrecisionConfig.from_dict(adv["precision"], config.spec, config.n_layers)
            with atomic_file(out / "advised_precision.toml") as tmp:
                tmp.write_text(template_toml(advised, f"hbf-edge profile --numerical: the advisor's formats for "
                                                      f"retention >= {adv['target']} at {result['snr_db']} dB"))
            written += " and advised_precision.toml"
        say(format_numerical(result))
        say(f"wrote {out / 'numerical.json'}, {written}")
        return result


CORE = UpgaCore()
