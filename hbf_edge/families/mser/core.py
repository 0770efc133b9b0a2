"""The core stage of MSER: channels, train, evaluate and profile (``mser_unfolding_hbf.txt``).

A model directory's ``family_config`` holds the sizes, the network's initial steps (``steps``,
which with the trained factors define its layers), the GD steps it was trained from
(``gd_steps``, the GD-L baseline), the symbols per layer, the step shape and offsets, and where
the network starts (``start``; absent in older directories: the DFT alignment), and a network
with candidate layers its table (``candidates``, ``[C, 4]``) and scoring vectors
(``score_samples``; both absent without candidate layers).  Its
hardware spec is the BS side (``N = N_t``, ``M = R_t``, ``K`` users); a quantized directory
(``hbf-edge quantize``) adds the BS's phase bits to it and the users', the word lengths and the
method to its ``quantization`` section.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hbf_edge.errors import ConfigError, ModelDirError
from hbf_edge.families._mimo import MimoChannels
from hbf_edge.families._protocol import Say, log_say
from hbf_edge.families.mser._section import SIZE_KEYS, check_section, network_arrays
from hbf_edge.families.mser.config import SPEC, MserChannels, MserEval, MserProfile, MserTrain, refuse_cnn
from hbf_edge.results import stamp, write_result

__all__ = ["CORE", "MserCore"]

_STEP_KEYS = ("mu_p", "mu_w", "mu_theta_u", "mu_theta_f", "kappa", "snr_ref_db")


def _steps_dict(steps: Any) -> dict[str, Any]:
    return {k: getattr(steps, k) for k in _STEP_KEYS}


class MserCore(MimoChannels):
    """:class:`~hbf_edge.families._protocol.CoreStage` of MSER."""

    spec = SPEC
    channel_settings = MserChannels
    train_settings = MserTrain
    eval_settings = MserEval
    profile_settings = MserProfile
    default_batches = (1, 64)

    # -- the model directory ------------------------------------------------------------------

    def sizes(self, config: Any) -> Any:
        """The :class:`~hbf_edge.families.mser.system.MserSizes` of a ModelConfig."""
        from hbf_edge.families.mser.system import MserSizes

        return MserSizes(**config.family_config["sizes"])

    def gd_steps(self, config: Any, key: str = "gd_steps") -> Any:
        from hbf_edge.families.mser.gd import GdSteps

        return GdSteps(**config.family_config[key])

    def check_config(self, config: Any) -> None:
        check_section(config, self.sizes, self.gd_steps)

    def expected_arrays(self, config: Any) -> dict[str, tuple[int, ...]]:
        """The network's parameters (complex ones with a trailing (re, im) axis) and its symbol
        sets ``[L, D, J, 2]`` (:class:`~hbf_edge.families.mser.model.MserNet`)."""
        if config.family_config.get("design") == "cnn":
            return {k: tuple(v.shape) for k, v in self.build(config).state_dict().items()}
        return network_arrays(config, self.sizes(config))

    def build(self, config: Any) -> Any:
        from hbf_edge.families.mser.model import MserNet

        c = config.family_config
        if c.get("design") == "cnn":
            from hbf_edge.families.mser.cnn import MserCnn

            return MserCnn(self.sizes(config), tuple(c["cnn"]["conv_channels"]), c["cnn"]["hidden"]).eval()
        net = MserNet(self.sizes(config), config.n_layers, self.gd_steps(config, "steps"), c["samples"],
                      seed=c["symbol_seed"], step_shape=c["step_shape"], offsets=c["offsets"],
                      candidates=np.array(c["candidates"]) if "candidates" in c else None,
                      score_samples=c.get("score_samples", 1))
        net.start = c.get("start")  # where it starts (hbf_edge.families.mser.start; None: the alignment)
        return net

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        from hbf_edge.modeldir import load_model

        return load_model(model_dir, family=self.spec.name)

    def torch_forward(self, model: Any, H: np.ndarray, snr_db: float = 15.0) -> dict[str, np.ndarray]:
        """The network from the DFT alignment start: ``F [B, N_t, R_t]``, ``V [B, R_t, D]``,
        ``U [B, K, R_r, N_r]``, ``W [B, K, R_r, D_k]``, complex128."""
        from hbf_edge.families.mser.evaluate import network_design

        return dict(zip("FVUW", network_design(model, np.ascontiguousarray(H, dtype=np.complex128), model.sizes,
                                               snr_db)))

    # -- channels -----------------------------------------------------------------------------

    def generate(self, sizes: Any, count: int, seed: int) -> np.ndarray:
        """Eq. (3) channels of ``sizes`` (:func:`~hbf_edge.families.mser.system.mser_channels`)."""
        from hbf_edge.families.mser.system import mser_channels

        return mser_channels(count, sizes, seed=seed)

    def make_channels(self, s: MserChannels, say: Say = log_say) -> Path:
        from hbf_edge.channels import ChannelDataset
        from hbf_edge.families.mser.system import mser_channels

        z = s.sizes()
        H = mser_channels(s.count, z, seed=s.seed)
        params = dict(n_channels=s.count, n_tx=z.n_tx, n_rx=z.n_rx, n_users=z.n_users, n_clusters=2, n_rays=10,
                      gain_var=1.0, ray_spread_deg=7.5, seed=s.seed)
        path = ChannelDataset(H=H, model="clustered_mimo", params=params).save(s.out)
        say(f"wrote {s.count} channels [{s.count}, {z.n_users}, {z.n_rx}, {z.n_tx}] (eq. 3: 2 clusters x 10 rays, "
            f"7.5-degree spread) to {path}")
        return path

    # -- stages -------------------------------------------------------------------------------

    def train(self, s: MserTrain, say: Say = log_say) -> dict[str, Any]:
        """Tune the GD steps for L iterations at ``--tune-snr`` (default 15 dB) on the validation
        channels (unless ``--gd-steps``), start the network at ``start_scale`` times them, train,
        write ``s.out``."""
        from hbf_edge.families.mser.candidates import SHAPES, grid_table, read_candidates
        from hbf_edge.families.mser.gd import GdSteps, tune_steps
        from hbf_edge.families.mser.model import SCORE_SAMPLES
        from hbf_edge.families.mser.system import noise_std
        from hbf_edge.families.mser.train import MserTrainConfig, train_mser
        from hbf_edge.hw.spec import HardwareSpec
        from hbf_edge.modeldir import save_model
        from hbf_edge.modelfiles import ModelConfig

        if s.out.exists() and not s.overwrite:  # fail before training, not after
            raise ModelDirError(f"{s.out} already exists (pass --overwrite to replace it)")
        sizes = s.sizes(s.constellation)
        L, J = s.preset_value("layers"), s.preset_value("samples")
        n_train, batch, lr, epochs = (s.design_value(k) for k in ("train_size", "batch_size", "lr", "epochs"))
        H_train, H_val, source = self.training_channels(s.channels, sizes, n_train, s.val_size, s.seed)
        t0 = time.perf_counter()
        if s.gd_steps is None:
            # from the alignment, whatever the network's start: tuned from the MMSE-based GD start the
            # search shrank the user-phase step to 7e-16, and the trained network's SER rose 1.6x and
            # 2.9x at 5 and 15 dB (README, "Starting from the MMSE-based GD design")
            gd_steps, _ = tune_steps(H_val[:50], sizes, float(noise_std(s.tune_snr)), L, n_samples=J, seed=s.seed + 1)
            say(f"GD steps tuned for {L} iterations at {s.tune_snr:g} dB on {min(50, len(H_val))} validation channels: "
                + ", ".join(f"{k} {v:.3g}" for k, v in _steps_dict(gd_steps).items() if k.startswith("mu")))
        else:
            gd_steps = GdSteps(*s.gd_steps)
        candidates = read_candidates(s.candidates)
        start = dataclasses.replace(gd_steps, **{k: s.start_scale * getattr(gd_steps, k)
                                                 for k in ("mu_p", "mu_w", "mu_theta_u", "mu_theta_f")})
        if isinstance(candidates, str):  # a grid, in its constellation's shape ("none": None)
            candidates = grid_table(candidates, SHAPES[sizes.constellation])
        cfg = MserTrainConfig(n_layers=L, epochs=epochs, batch_size=batch, lr=lr, halve_every=s.halve_every,
                              snr_db_min=s.snr_range[0], snr_db_max=s.snr_range[1], n_samples=J, seed=s.seed,
                              steps=start, step_shape=s.step_shape, offsets=s.offsets, loss=s.loss,
                              start=s.start_record(),
                              candidates=None if candidates is None else tuple(map(tuple, candidates.tolist())))
        cnn = None
        if s.design == "cnn":
            from hbf_edge.families.mser.cnn import build_cnn

            cnn = build_cnn(sizes, s.seed)
        model, history = train_mser(H_train, H_val, sizes, cfg, progress=not s.quiet, model=cnn)
        wall = round(time.perf_counter() - t0, 2)
        kept = min(history, key=lambda r: r["val_loss"])
        training = {"epochs": epochs, "batch_size": batch, "lr": lr, "halve_every": s.halve_every,
                    "snr_db": list(s.snr_range), "loss": s.loss, "start_scale": s.start_scale, "seed": s.seed,
                    "train_size": int(len(H_train)), "val_size": int(len(H_val)), "channels": source,
                    "kept_epoch": kept["epoch"], "wall_seconds": wall}
        if s.gd_steps is None:
            training["gd_steps_tuned_at_db"] = s.tune_snr
        section = {"sizes": {k: getattr(sizes, k) for k in SIZE_KEYS}, "gd_steps": _steps_dict(gd_steps), "samples": J,
                   "symbol_seed": s.seed}
        if cnn is None:
            section.update(steps=_steps_dict(start), step_shape=s.step_shape, offsets=s.offsets, start=s.start_record())
            if candidates is not None:
                section.update(candidates=candidates.tolist(), score_samples=SCORE_SAMPLES)
        else:  # L and the GD steps define the GD-L baseline `evaluate` compares the CNN with
            section.update(design="cnn", cnn={"conv_channels": list(cnn.conv_channels), "hidden": cnn.hidden})
        spec = HardwareSpec(n_antennas=sizes.n_tx, n_rf=sizes.n_rf_tx, n_users=sizes.n_users, phase_bits=None)
        config = ModelConfig("mser", spec, L, 1, training=training, history=history, family_config=section)
        save_model(model, config, s.out, overwrite=s.overwrite)
        what = (f"the benchmark CNN ({cnn.parameter_count():,} parameters; GD-L baseline L={L})" if cnn is not None
                else f"mser L={L}" + ("" if candidates is None else f" with {len(candidates)} candidates per layer"))
        say(f"trained {what} (N_t={sizes.n_tx}, R_t={sizes.n_rf_tx}, K={sizes.n_users}, N_r={sizes.n_rx}, "
            f"R_r={sizes.n_rf_rx}, D_k={sizes.n_streams}) in {wall} s; kept epoch {kept['epoch']} of {epochs}, "
            f"validation SER {kept['val_loss']:.4g} (initial {history[0]['val_loss']:.4g}); model written to {s.out}")
        return {"model_dir": str(s.out), "wall_seconds": wall, "history": history}

    def evaluate(self, s: MserEval, load: Callable[[Path], tuple[Any, Any]] | None = None,
                 say: Say = log_say) -> dict[str, Any]:
        from hbf_edge.families.mser.evaluate import evaluate_mser, format_table
        from hbf_edge.families.mser.plots import plot_ser_vs_snr

        model, config = (load or self.load)(s.model_dir)
        sizes = self.sizes(config)
        H = (self.read_channels(s.channels, config) if s.channels is not None
             else self.draw_channels(config, s.count, s.seed))
        from hbf_edge.kernels import REGISTRY

        kernel = hardware = None
        if REGISTRY.has(self.spec.name) and config.family_config.get("design") != "cnn":  # the CNN runs in torch
            stage = REGISTRY.get(self.spec.name)
            if config.quantization is None:
                kmodel = stage.load(s.model_dir)
                kernel = lambda H_, snr: stage.forward(kmodel, H_, snr_db=snr)  # noqa: E731
            else:  # the quantized network's row is the torch model with Q-bit phases; this is the datapath's
                hardware = lambda H_, snr, start: [  # noqa: E731
                    stage.forward_hw(s.model_dir, H_, snr_db=snr, start=start)[k] for k in "FVUW"]
        from hbf_edge.families.mser.gd import GdSteps

        model_steps = self.gd_steps(config)
        given = None if s.gd_steps is None else GdSteps(*s.gd_steps, kappa=model_steps.kappa,
                                                        snr_ref_db=model_steps.snr_ref_db)
        others = {}
        for d in s.compare:
            other, other_config = (load or self.load)(d)
            if self.sizes(other_config) != sizes:
                raise ConfigError(f"--compare {d}: its sizes differ from {s.model_dir}'s")
            if other_config.quantization is not None:
                raise ConfigError(f"--compare {d} is a quantized model: compare float networks (evaluate a quantized "
                                  "one on its own for its datapath's row)")
            others[d.name if d.name not in others else str(d)] = other
        results = evaluate_mser(model, sizes, model_steps, H, list(s.snr), s.gd_iterations, s.gd_starts,
                                config.family_config["samples"], progress=not s.quiet, kernel=kernel,
                                hardware=hardware, mmse_gd_iterations=s.mmse_gd_iterations, long_steps=given,
                                tune_snr=s.gd_tune_snr, tune_sweeps=s.gd_tune_sweeps, layers=config.n_layers,
                                others=others, gd_keep_best=s.gd_keep_best, tune_each=s.gd_tune_each,
                                tune_min_gain=s.gd_tune_min_gain)
        if s.csi_error is not None:  # Fig. 10: the same designs from channel estimates, at one SNR
            from hbf_edge.families.mser.evaluate import imperfect_csi

            # the long GD's steps of the table; with --gd-tune-each those of --csi-snr, tuned there
            # for every error variance when the table did not evaluate that SNR
            steps = (results["gd"]["steps_at_15db"] if not s.gd_tune_each else
                     {float(d["snr_db"]): d for d in results["gd"]["steps_by_snr"]}.get(float(s.csi_snr)))
            long_steps = None if steps is None else GdSteps(
                **{k: v for k, v in steps.items() if k != "snr_db"}, kappa=model_steps.kappa,
                snr_ref_db=model_steps.snr_ref_db)
            results["imperfect_csi"] = {"snr_db": s.csi_snr, **imperfect_csi(
                lambda Hd: evaluate_mser(model, sizes, model_steps, H, [s.csi_snr], s.gd_iterations,
                                         s.gd_starts, config.family_config["samples"], progress=False,
                                         hardware=hardware, H_design=Hd, long_steps=long_steps,
                                         mmse_gd_iterations=s.mmse_gd_iterations, layers=config.n_layers,
                                         others=others, gd_keep_best=s.gd_keep_best, tune_each=long_steps is None,
                                         tune_min_gain=s.gd_tune_min_gain),
                H, list(s.csi_error), s.seed + 1)}
        stamp(results, "evaluation", self.spec.name, s.model_dir)
        out = s.out if s.out is not None else s.model_dir / "eval"
        write_result(out / "results.json", results)
        plot_ser_vs_snr(results, out / "ser_vs_snr.png")
        if "imperfect_csi" in results:
            from hbf_edge.families.mser.plots import plot_ser_vs_csi_error

            plot_ser_vs_csi_error(results, out / "ser_vs_csi_error.png")
        g = results["gd"]
        keep = f", each channel's best checkpoint of every {g['keep_best_every']}" if g["keep_best_every"] else ""

        def steps(d: dict[str, float]) -> str:
            return ", ".join(f"{k} {v:.3g}" for k, v in d.items() if k != "snr_db")

        say(f"exact SER on {results['n_channels']} channels; GD-{g['iterations']} (best of {g['starts']}{keep}) "
            + ("with steps tuned for it at each SNR: " + "; ".join(f"{d['snr_db']:g} dB: {steps(d)}"
                                                                  for d in g["steps_by_snr"]) if s.gd_tune_each else
               "with steps " + ("given" if s.gd_steps is not None else f"tuned for it at {s.gd_tune_snr:g} dB")
               + ": " + steps(g["steps_at_15db"])))
        say(format_table(results))
        cpu = results["cpu_us_per_channel"]
        say("CPU per channel and SNR: " + ", ".join(f"{k} {v:.0f} us" for k, v in cpu.items())
            + f" (GD / network {results['cpu_ratio_gd_over_network']}x; timed in {results['cpu_timed_in']})")
        if "imperfect_csi" in results:
            c = results["imperfect_csi"]
            say(f"imperfect CSI at {c['snr_db']:g} dB (designs from H - sigma_h dK, scored on H), SER per error "
                "variance " + ", ".join(f"{v:g}" for v in c["error_variance"]) + ":")
            width = max(len(name) for name in c["ser"]) + 1
            for name, values in c["ser"].items():
                say(f"  {name:<{width}}" + "".join(f"{v:11.3e}" for v in values))
        say(f"wrote {out / 'results.json'} and ser_vs_snr.png"
            + (" and ser_vs_csi_error.png" if "imperfect_csi" in results else ""))
        return results

    def profile(self, s: MserProfile, target: dict[str, Any], extra: dict[str, Any],
                say: Say = log_say) -> dict[str, Any]:
        from hbf_edge.families.mser.profile import MSER_BACKENDS, profile_mser

        from hbf_edge.kernels import REGISTRY

        model, config = (extra.get("load_torch") or self.load)(s.model_dir)
        refuse_cnn(config.family_config, s.model_dir, "the per-layer profile times")
        kernels = REGISTRY.get(self.spec.name) if REGISTRY.has(self.spec.name) else None
        quantized = config.quantization is not None
        onnx, onnx_int = extra.get("onnxruntime"), extra.get("onnxruntime_int")
        plain = "candidates" not in config.family_config  # candidate layers: torch and the float kernel only
        available = {"numba_float64": kernels is not None, "numba_hardware": kernels is not None and quantized,
                     "torch_eager": True, "onnxruntime": onnx is not None and plain,
                     "onnxruntime_int": onnx_int is not None and kernels is not None and quantized}
        backends = tuple(s.backends) if s.backends else tuple(b for b in MSER_BACKENDS if available[b])
        batches = tuple(s.batches) if s.batches else self.default_batches
        result = profile_mser(model, self.sizes(config), config.family_config["samples"], batches, s.repeat, backends,
                              target, kernels=kernels, model_dir=s.model_dir, quantized=quantized, onnx=onnx,
                              onnx_int=onnx_int)
        stamp(result, "profile", self.spec.name, s.model_dir)
        out = s.out if s.out is not None else s.model_dir / "profile"
        write_result(out / "profile.json", result)
        o = result["ops_per_layer"]
        cand = result.get("candidates")
        say(f"MSER L={result['layers']}" + (f" with {cand['rows']} candidates ({cand['passes_per_layer']} passes and "
                                             "scores per layer)" if cand else "")
            + f": {o['complex_macs']:,} complex MACs, {o['sign_macs']:,} sign-MACs and {o['table_lookups']:,} "
            "table lookups per layer and channel; microseconds per channel (whole forward / mean layer / init)")
        for batch, row in result["measured"].items():
            say(f"batch {batch}: " + ", ".join(
                f"{name} {r['whole_us_per_channel']:.0f} / "
                + (f"{r['layer_us_per_channel']:.0f}" if "layer_us_per_channel" in r else "-")
                + f" / {r['init_us_per_channel']:.0f}" for name, r in row.items()))
        if "note" in result:
            say(result["note"])
        for name, why in result.get("skipped", {}).items():
            say(f"{name} skipped: {why}")
        t = result["target"]
        say(f"target {t['name']}: {t['layer']['us']} us per layer, {t['layers_total_us']} us for the {result['layers']} "
            f"layers (estimate)")
        say(f"wrote {out / 'profile.json'}")
        return result


CORE = MserCore()
