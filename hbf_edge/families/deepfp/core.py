"""The core stage of DeepFP: channels, train, evaluate and profile (``deepfp.txt``)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hbf_edge.errors import ConfigError, ModelDirError
from hbf_edge.families._protocol import Say, log_say
from hbf_edge.results import stamp, write_result
from hbf_edge.families.deepfp.config import (
    SPEC,
    DeepfpAgreement,
    DeepfpBench,
    DeepfpChannels,
    DeepfpEval,
    DeepfpProfile,
    DeepfpTrain,
)

__all__ = ["CORE", "DeepfpCore", "format_table"]

_SECTION = {"network", "n_tx", "n_streams", "hidden", "n_hidden"}


def _is_dataset(path: Path) -> bool:
    """A network dataset of ``hbf-edge channels deepfp`` (it carries a ``meta`` record)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return "meta" in f.files
    except Exception:  # not an npz: a plain array file, read_channel_array says what is wrong
        return False


def format_table(results: dict[str, Any]) -> str:
    """The paper's Table I/II layout: WSR and CPU time, each with its percentage of FastFP-100."""
    lines = [f"{'algorithm':<26} {'WSR (bit/s/Hz)':>18} {'CPU time (ms/channel)':>24}"]
    for r in results["rows"]:
        name = r["method"] + (f" ({r['iterations']} iterations)" if r["method"] == "FastFP" else "")
        lines.append(f"{name:<26} {r['wsr']:9.3f} ({r['wsr_percent']:5.1f}%) "
                     f"{1e3 * r['cpu_s_per_channel']:12.2f} ({r['cpu_percent']:5.1f}%)")
    return "\n".join(lines)


class DeepfpCore:
    """:class:`~hbf_edge.families._protocol.CoreStage` of DeepFP."""

    spec = SPEC
    channel_settings = DeepfpChannels
    train_settings = DeepfpTrain
    eval_settings = DeepfpEval
    profile_settings = DeepfpProfile
    bench_settings = DeepfpBench
    agreement_settings = DeepfpAgreement
    default_backends = ("numba_float64", "numba_hardware", "torch_eager")
    default_batches = (1, 16)

    # -- the model directory ------------------------------------------------------------------

    def check_config(self, config: Any) -> None:
        """The DeepFP section: network, DNN sizes and (optional) step base."""
        c = config.family_config
        if not isinstance(c, dict) or not _SECTION <= set(c) <= _SECTION | {"step_base"}:
            raise ModelDirError(f"the deepfp section must hold {sorted(_SECTION)} and optionally step_base")
        if c.get("step_base", "frobenius") not in ("frobenius", "exact"):
            raise ModelDirError(f"deepfp.step_base must be frobenius or exact, got {c['step_base']!r}")
        for k in _SECTION - {"network"}:
            v = c[k]
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ModelDirError(f"deepfp.{k} must be an integer >= 1, got {v!r}")

    def expected_arrays(self, config: Any) -> dict[str, tuple[int, ...]]:
        """Per layer, a complex DNN ``2 N_t d -> hidden x n_hidden -> 1`` (the output layer has
        no imaginary bias)."""
        c = config.family_config
        sizes = [2 * c["n_tx"] * c["n_streams"]] + [c["hidden"]] * c["n_hidden"] + [1]
        out: dict[str, tuple[int, ...]] = {}
        for i in range(config.n_layers):
            for j, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                p = f"steps.{i}.layers.{j}."
                out.update({p + "w_re": (b, a), p + "w_im": (b, a), p + "b_re": (b,)})
                if j < len(sizes) - 2:
                    out[p + "b_im"] = (b,)
        return out

    def build(self, config: Any) -> Any:
        from hbf_edge.families.deepfp.model import DeepFP

        c = config.family_config
        return DeepFP(config.n_layers, c["n_tx"], c["n_streams"], c["hidden"], c["n_hidden"],
                      step_base=c.get("step_base", "frobenius"))

    def torch_forward(self, model: Any, H: np.ndarray, seed: int = 2026) -> dict[str, np.ndarray]:
        """The torch network (float or quantized) from the seeded random start (Section IV-D):
        ``V [B, L, K, N_t, d]`` complex128 (the keys of the kernel stage's ``forward``)."""
        import torch

        from hbf_edge.families.deepfp.model import to_c
        from hbf_edge.families.deepfp.wsr import random_init

        B, L, K, _, _, Nt = H.shape
        V0 = random_init((B, L, K, Nt, model.n_streams), np.ones(L), seed)
        with torch.no_grad():
            V, _ = model.to(torch.float64)(to_c(H), to_c(V0))
        return {"V": V.re.numpy() + 1j * V.im.numpy()}

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        from hbf_edge.modeldir import load_model

        return load_model(model_dir, family=self.spec.name)

    # -- channels -----------------------------------------------------------------------------

    def network(self, config: Any) -> Any:
        from hbf_edge.families.deepfp.network import NetworkConfig

        return NetworkConfig.from_dict(config.family_config["network"])

    def has_splits(self, path: Path) -> bool:
        """Whether a channel file is a network dataset with train/val/test splits."""
        return _is_dataset(Path(path))

    def channel_shape(self, config: Any) -> tuple[int, ...]:
        net = self.network(config)
        return net.n_cells, net.n_users, net.n_cells, net.n_rx, net.n_tx

    def draw_channels(self, config: Any, count: int, seed: int) -> np.ndarray:
        from hbf_edge.families.deepfp.network import generate_channels

        return generate_channels(self.network(config), count, seed=seed)

    def read_channels(self, path: Path, config: Any | None = None, split: str = "test") -> np.ndarray:
        """``split`` of a network dataset, or the whole of a plain array file; checked against
        the model's network when ``config`` is given."""
        from hbf_edge.channels import check_channel_shape, read_channel_array
        from hbf_edge.families.deepfp.network import load_dataset

        if _is_dataset(Path(path)):
            data = load_dataset(path)
            H = data["H"][data[split]]
        else:
            H = read_channel_array(path)
        if config is not None:
            check_channel_shape(H, self.spec.channel_axes, self.channel_shape(config), str(path))
        return H

    def make_channels(self, s: DeepfpChannels, say: Say = log_say) -> Path:
        from hbf_edge.families.deepfp.network import make_dataset, save_dataset

        if s.hybrid is not None:
            from hbf_edge.families.deepfp.hybrid import hybrid_dataset

            data = hybrid_dataset(s.hybrid, s.count, s.snr, s.seed)
        else:
            data = make_dataset(s.network(), s.count, s.seed)
        save_dataset(data, s.out, overwrite=s.overwrite)
        say(f"wrote {s.count} networks {list(data['H'].shape)} (train/val/test {len(data['train'])}/"
            f"{len(data['val'])}/{len(data['test'])}) to {s.out}")
        return Path(s.out)

    # -- stages -------------------------------------------------------------------------------

    def train(self, s: DeepfpTrain, say: Say = log_say) -> dict[str, Any]:
        """Train DeepFP and write ``s.out``.  A plain channel array is split 85/15 into training
        and validation networks (in file order); a dataset keeps its own split."""
        from hbf_edge.families.deepfp.network import load_dataset, make_dataset
        from hbf_edge.families.deepfp.train import DeepFPTrainConfig, deepfp_model_config, kept_epoch, train_deepfp
        from hbf_edge.modeldir import save_model

        if s.out.exists() and not s.overwrite:  # fail before training, not after
            raise ModelDirError(f"{s.out} already exists (pass --overwrite to replace it)")
        if s.channels is not None and _is_dataset(s.channels):
            data = load_dataset(s.channels)
            H_train, H_val, net = data["H"][data["train"]], data["H"][data["val"]], data["config"]
        elif s.channels is not None:
            from hbf_edge.channels import check_channel_shape, read_channel_array

            H = read_channel_array(s.channels)
            check_channel_shape(H, self.spec.channel_axes, H.shape[1:] if H.ndim == 6 else (), str(s.channels))
            if H.shape[0] < 2:
                raise ConfigError(f"{s.channels} holds {H.shape[0]} network(s); training needs at least 2")
            n_val = max(1, int(round(0.15 * H.shape[0])))
            H_train, H_val, net = H[:-n_val], H[-n_val:], s.network(H.shape)
        else:
            data = make_dataset(s.network(), math.ceil(s.train_size / 0.70), s.seed)
            H_train, H_val, net = data["H"][data["train"]], data["H"][data["val"]], data["config"]
        source = str(s.channels) if s.channels is not None else f"generated, seed {s.seed}"
        config = DeepFPTrainConfig(n_layers=s.layers, hidden=s.hidden, n_streams=net.n_streams,
                                   supervised_epochs=s.supervised_epochs, unsupervised_epochs=s.epochs,
                                   batch_size=s.batch_size, lr=s.lr, fastfp_iterations=s.fastfp_iterations,
                                   seed=s.seed, precision=s.precision, step_base=s.step_base, keep=s.keep)
        t0 = time.perf_counter()
        model, history = train_deepfp(H_train, H_val, config, progress=not s.quiet)
        training = {**{k: getattr(config, k) for k in ("supervised_epochs", "unsupervised_epochs", "batch_size", "lr",
                                                        "fastfp_iterations", "seed", "precision", "step_base",
                                                        "keep")},
                    "train_size": int(len(H_train)), "val_size": int(len(H_val)), "channels": source,
                    "wall_seconds": round(time.perf_counter() - t0, 2)}
        save_model(model, deepfp_model_config(model, net, training, history), s.out, overwrite=s.overwrite)
        kept = kept_epoch(history)
        say(f"trained deepfp L={config.n_layers} ({net.n_cells} cell(s), N_t={net.n_tx}, N_r={net.n_rx}, "
            f"K={net.n_users}, d={net.n_streams}) in {training['wall_seconds']} s; kept epoch {kept['epoch']} of "
            f"{len(history)}, validation WSR {kept['val_wsr']:.3f} bit/s/Hz; model written to {s.out}")
        return {"model_dir": str(s.out), "wall_seconds": training["wall_seconds"], "history": history}

    def tables(self, s: DeepfpEval, load: Callable[[Path], tuple[Any, Any]] | None = None) -> dict[str, Any]:
        """Tables I-II: WSR and CPU time of the model against FastFP-100 and the baselines."""
        from hbf_edge.families.deepfp.evaluate import evaluate_deepfp

        model, config = (load or self.load)(s.model_dir)
        if s.channels is not None:
            H = self.read_channels(s.channels, config, "test")
        else:
            H = self.draw_channels(config, s.count, s.seed)
        baselines = s.baselines if s.baselines is not None else (["ezf", "wmmse_sc"] if H.shape[1] == 1 else ["ezf"])
        results = evaluate_deepfp(model, H, s.fastfp_iterations, seed=s.seed, time_samples=s.time_samples,
                                  baselines=tuple(baselines), progress=not s.quiet)
        wsr = {r["method"] + (f" ({r['iterations']})" if r["method"] == "FastFP" else ""): r["wsr"]
               for r in results["rows"]}
        stamp(results, "evaluation", self.spec.name, s.model_dir, metrics={"weighted_sum_rate": wsr})
        return results

    def bench(self, s: DeepfpBench, load: Callable[[Path], tuple[Any, Any]] | None = None) -> dict[str, Any]:
        """Tables I-II as JSON (``hbf-edge bench model``)."""
        results = self.tables(s, load)
        results.pop("per_channel")
        return results

    def evaluate(self, s: DeepfpEval, load: Callable[[Path], tuple[Any, Any]] | None = None,
                 say: Say = log_say) -> dict[str, Any]:
        from hbf_edge.families.deepfp.plots import plot_deepfp_cdf, plot_deepfp_convergence

        results = self.tables(s, load)
        out = s.out if s.out is not None else s.model_dir / "eval"
        write_result(out / "results.json", results)
        plot_deepfp_convergence(results, out / "wsr_vs_iterations.png")
        plot_deepfp_cdf(results, out / "wsr_cdf.png")
        say(f"{results['n_channels']} held-out networks, {results['n_cells']} cell(s); CPU time on "
            f"{results['time_samples']} of them, batch {results['batch']}:")
        say(format_table(results))
        prof = results["per_layer_cpu_ms"]
        say("per layer (CPU ms per network): " + ", ".join(f"{k} {v:.3f}" for k, v in prof.items()))
        say(f"wrote {out / 'results.json'}, wsr_vs_iterations.png, wsr_cdf.png")
        return results

    def profile(self, s: DeepfpProfile, target: dict[str, Any], extra: dict[str, Any],
                say: Say = log_say) -> dict[str, Any]:
        """Per-layer latency per backend, the stage split of torch eager, MACs, target estimate.
        ``extra["load_torch"]`` loads the torch network, quantized or not (the quant stage)."""
        from hbf_edge.families.deepfp.plots import plot_deepfp_profile
        from hbf_edge.families.deepfp.profile import profile_deepfp

        backends = tuple(s.backends) if s.backends else self.default_backends
        batches = tuple(s.batches) if s.batches else self.default_batches
        result = profile_deepfp(s.model_dir, batches, s.repeat, backends=backends, target=target,
                                load_torch=extra.get("load_torch"))
        stamp(result, "profile", self.spec.name, s.model_dir)
        out = s.out if s.out is not None else s.model_dir / "profile"
        write_result(out / "profile.json", result)
        plot_deepfp_profile(result, out / "profile.png")
        m = result["macs"]
        say(f"DeepFP L={result['I']}: {m['layer']:,} real MACs per layer and network (FP state {m['fp_state']:,}, "
            f"DNN {m['dnn']:,}, update {m['update']:,}); microseconds per network (whole forward / mean layer)")
        for batch, row in result["measured"].items():
            say(f"batch {batch}: " + ", ".join(f"{name} {r['whole_us_per_channel']:.0f} / "
                                               f"{r['layer_us_per_channel']:.0f}" for name, r in row.items()))
            if "torch_eager" in row:
                layers = row["torch_eager"]["layers"]
                stages = {k: sum(r[k] for r in layers) / len(layers) for k in ("fp_state", "dnn", "update")}
                say("  torch eager per layer: " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()))
        for name, why in result.get("skipped", {}).items():
            say(f"{name} skipped: {why}")
        t = result["target"]
        say(f"target {t['name']}: {t['stages']['layer']['us']} us per layer, {t['layers_total_us']} us for the "
            f"{result['I']} layers (estimate)")
        say(f"wrote {out / 'profile.json'} and profile.png")
        return result


CORE = DeepfpCore()
