"""The core stage of JCEHB: channels, train, evaluate and profile (``mixed_timescale_jcehb.txt``).

A model directory's ``family_config`` holds the sizes, the pilot count (= CEDUN layers), the
HBDUN layers, the pilot power, the inverse, the design (joint or separate), the SNR it was
trained at and the SSCA record of the baseline's beams.  The two timescales stay apart in the
arrays: ``phi_f``, ``phi_w`` (and the baseline's ``ssca_phi_*``) are the per-superframe analog
stage, ``pilot``, ``ce_*`` and ``hb_*`` the per-slot network.  Its hardware spec is the BS side
(``N = N_t``, ``M = N_t^RF``, ``K`` users) and carries no phase bits: JCEHB has no quantized
datapath yet.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hbf_edge.errors import ConfigError, ModelDirError
from hbf_edge.families._mimo import MimoChannels
from hbf_edge.families._protocol import Say, log_say
from hbf_edge.families.jcehb.config import SPEC, JcehbChannels, JcehbEval, JcehbProfile, JcehbTrain
from hbf_edge.results import stamp, write_result

__all__ = ["CORE", "JcehbCore"]

_SIZE_KEYS = ("n_tx", "n_rf_tx", "n_rx", "n_rf_rx", "n_users", "n_streams")
_SECTION = {"sizes", "pilots", "hb_layers", "pilot_power", "inverse", "design", "snr_db", "ssca"}


class JcehbCore(MimoChannels):
    """:class:`~hbf_edge.families._protocol.CoreStage` of JCEHB."""

    spec = SPEC
    channel_settings = JcehbChannels
    train_settings = JcehbTrain
    eval_settings = JcehbEval
    profile_settings = JcehbProfile
    default_batches = (1, 64)

    # -- the model directory ------------------------------------------------------------------

    def sizes(self, config: Any) -> Any:
        """The :class:`~hbf_edge.families.jcehb.system.JcehbSizes` of a ModelConfig."""
        from hbf_edge.families.jcehb.system import JcehbSizes

        return JcehbSizes(**config.family_config["sizes"])

    def check_config(self, config: Any) -> None:
        from hbf_edge.families.jcehb.model import INVERSES
        from hbf_edge.families.jcehb.system import PILOT_POWERS, check_boost
        from hbf_edge.families.jcehb.train import DESIGNS

        c = config.family_config
        if not isinstance(c, dict) or not _SECTION <= set(c) <= _SECTION | {"pilot_boost_db"}:
            raise ModelDirError(f"the jcehb section must hold {sorted(_SECTION)} (and may hold pilot_boost_db)")
        try:
            check_boost(c.get("pilot_boost_db", 0.0))
        except ConfigError as exc:
            raise ModelDirError(f"jcehb.pilot_boost_db: {exc}") from exc
        if not isinstance(c["sizes"], dict) or set(c["sizes"]) != set(_SIZE_KEYS):
            raise ModelDirError(f"jcehb.sizes must hold {list(_SIZE_KEYS)}")
        try:
            sizes = self.sizes(config)
        except (TypeError, ConfigError) as exc:
            raise ModelDirError(f"the jcehb section is invalid: {exc}") from exc
        for k in ("pilots", "hb_layers"):
            if isinstance(c[k], bool) or not isinstance(c[k], int) or c[k] < 1:
                raise ModelDirError(f"jcehb.{k} must be an integer >= 1, got {c[k]!r}")
        if c["pilot_power"] not in PILOT_POWERS or c["inverse"] not in INVERSES or c["design"] not in DESIGNS:
            raise ModelDirError("jcehb.pilot_power, inverse or design has an unknown value")
        if (config.spec.n_antennas, config.spec.n_rf, config.spec.n_users) != (sizes.n_tx, sizes.n_rf_tx,
                                                                                sizes.n_users):
            raise ModelDirError("the hardware spec's N, M, K differ from jcehb.sizes' N_t, N_t^RF, K")

    def expected_arrays(self, config: Any) -> dict[str, tuple[int, ...]]:
        """The analog phases, the SSCA baseline's, the pilot and CEDUN / HBDUN parameters
        (:func:`hbf_edge.families.jcehb.model.parameter_shapes`)."""
        from hbf_edge.families.jcehb.model import parameter_shapes

        c = config.family_config
        if c["design"] == "black-box":
            return {k: tuple(v.shape) for k, v in self.build(config).state_dict().items()}
        return parameter_shapes(self.sizes(config), c["pilots"], c["pilots"], c["hb_layers"])

    def build(self, config: Any) -> Any:
        """The network of a model directory: the unfolded one, or the black box (in eval mode)."""
        from hbf_edge.families.jcehb.model import JcehbNet

        c = config.family_config
        if c["design"] == "black-box":
            from hbf_edge.families.jcehb.blackbox import JcehbBlackBox

            return JcehbBlackBox(self.sizes(config), c["pilots"], c["pilot_power"], c.get("pilot_boost_db", 0.0)).eval()
        return JcehbNet(self.sizes(config), c["pilots"], c["hb_layers"], c["pilot_power"], c["inverse"],
                        pilot_boost_db=c.get("pilot_boost_db", 0.0))

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        from hbf_edge.modeldir import load_model

        return load_model(model_dir, family=self.spec.name)

    def torch_forward(self, model: Any, H: np.ndarray, snr_db: float = 10.0,
                      noise_seed: int = 7) -> dict[str, np.ndarray]:
        """One slot per channel with seeded pilot noise: ``H_hat [B, K, R, N]``, ``F_bb
        [B, N, K N_s]``, ``W_bb [B, K, R, N_s]``, complex128."""
        from hbf_edge.families.jcehb.evaluate import network_slot
        from hbf_edge.families.jcehb.system import noise_power, pilot_noise

        H = np.ascontiguousarray(H, dtype=np.complex128)
        noise = pilot_noise(H.shape[0], model.sizes, model.n_pilots, noise_seed)
        out = network_slot(model, H, noise, noise_power(snr_db))
        return {k: out[k] for k in ("H_hat", "F_bb", "W_bb")}

    # -- channels -----------------------------------------------------------------------------

    def generate(self, sizes: Any, count: int, seed: int) -> np.ndarray:
        """Eq. (45)-(46) channels of ``sizes`` (:func:`~hbf_edge.families.jcehb.system.jcehb_channels`)."""
        from hbf_edge.families.jcehb.system import jcehb_channels

        return jcehb_channels(count, sizes, seed=seed)

    def make_channels(self, s: JcehbChannels, say: Say = log_say) -> Path:
        from hbf_edge.channels import ChannelDataset
        from hbf_edge.families.jcehb.system import jcehb_channels

        z = s.sizes()
        H = jcehb_channels(s.count, z, seed=s.seed, n_clusters=s.clusters, n_rays=s.rays, gain_var=s.gain_var,
                           angle_range=math.radians(s.angle_range))
        params = dict(n_channels=s.count, n_tx=z.n_tx, n_rx=z.n_rx, n_users=z.n_users, n_clusters=s.clusters,
                      n_rays=s.rays, gain_var=s.gain_var, angle_range_deg=s.angle_range, seed=s.seed)
        path = ChannelDataset(H=H, model="clustered_mimo", params=params).save(s.out)
        say(f"wrote {s.count} channels [{s.count}, {z.n_users}, {z.n_rx}, {z.n_tx}] (eq. 45-46: {s.clusters} clusters "
            f"x {s.rays} rays, sigma_alpha^2 {s.gain_var:g}, angles U(-{s.angle_range:g}, {s.angle_range:g}) degrees) "
            f"to {path}")
        return path

    # -- stages -------------------------------------------------------------------------------

    def train(self, s: JcehbTrain, say: Say = log_say) -> dict[str, Any]:
        """SSCA beams on the training channels, then the two training stages; writes ``s.out``."""
        import torch

        from hbf_edge.families.jcehb.system import noise_power
        from hbf_edge.families.jcehb.train import JcehbTrainConfig, ssca, train_jcehb
        from hbf_edge.hw.spec import HardwareSpec
        from hbf_edge.modeldir import save_model
        from hbf_edge.modelfiles import ModelConfig

        if s.out.exists() and not s.overwrite:  # fail before training, not after
            raise ModelDirError(f"{s.out} already exists (pass --overwrite to replace it)")
        start_model = None
        if s.init_from is not None:
            start_model, sizes, L, Lh = self._start_from(s)
            pilot_power, inverse, boost = start_model.pilot_power, start_model.inverse, start_model.pilot_boost_db
        else:
            sizes, L, Lh = s.sizes(), s.preset_value("pilots"), s.preset_value("hb_layers")
            pilot_power, inverse = s.pilot_power or "per-chain", s.inverse or "exact"
            boost = s.pilot_boost or 0.0
        epochs = s.frame_epochs if s.online else s.preset_value("epochs")
        n_train = s.online * s.frame_samples if s.online else s.preset_value("train_size")
        H_train, H_val, source = self.training_channels(s.channels, sizes, n_train, s.val_size, s.seed)
        nu = noise_power(s.snr_db)
        cfg = JcehbTrainConfig(n_pilots=L, n_hb=Lh, pilot_power=pilot_power, inverse=inverse, design=s.design,
                               epochs_stage1=epochs, epochs_stage2=epochs, batch_size=s.batch_size,
                               lr_phase=s.lr_phase, lr=s.lr, nu=nu, seed=s.seed, track_every=s.track_every,
                               pilot_boost_db=boost)
        t0 = time.perf_counter()
        tracking: list[dict[str, Any]] = []
        online = None
        if s.online:  # Fig. 17-18: SSCA and the network frame by frame
            from hbf_edge.families.jcehb.online import OnlineConfig, train_online

            settings = OnlineConfig(frames=s.online, samples=s.frame_samples, epochs=s.frame_epochs,
                                    csi_nmse_db=s.csi_nmse, csi_pilots=s.csi_pilots, ssca_iterations=s.ssca_iterations)
            model, (phi_f, phi_w), online = train_online(H_train, H_val, sizes, cfg, settings,
                                                         start_ssca=s.start == "ssca", progress=not s.quiet)
            history = online.pop("history")
            record = {"eta": settings.ssca_eta, "iterations": s.ssca_iterations, "passes": 1,
                      "batch": settings.ssca_batch, "online_frames": s.online}
            first, last = online["per_frame"][0], online["per_frame"][-1]
            what = "black box" if s.design == "black-box" else "network"
            say(f"online over {s.online} frames of {s.frame_samples} samples, scored on {len(H_val)} channels: the "
                f"{what} {first['network']:.3f} -> {last['network']:.3f} bit/s/Hz, RLS-{settings.reference_pilots} + "
                f"SSCA {first['rls_ssca']:.3f} -> {last['rls_ssca']:.3f}"
                + (f"; full-CSI samples at NMSE {online['full_csi_nmse_db']:.2f} dB"
                   if online["full_csi_nmse_db"] is not None else ""))
        else:
            phi_f, phi_w, record = ssca(H_train, H_val, sizes, nu, iterations=s.ssca_iterations,
                                        progress=not s.quiet)
            say(f"SSCA analog beams (eta {record['eta']:g} of {len(record['val_rate_by_eta'])} tried): validation "
                f"rate of SCA-{s.ssca_iterations} {record['val_rate_by_eta'][str(record['eta'])]:.3f} bit/s/Hz "
                f"(DFT beams {record['val_rate_dft']:.3f})")
            phases = (phi_f, phi_w) if s.start == "ssca" and start_model is None else None
            model, history = train_jcehb(H_train, H_val, sizes, cfg, phases=phases, model=start_model,
                                         progress=not s.quiet, tracking=tracking)
        with torch.no_grad():
            model.ssca_phi_f.copy_(torch.from_numpy(phi_f))
            model.ssca_phi_w.copy_(torch.from_numpy(phi_w))
        wall = round(time.perf_counter() - t0, 2)
        kept = {h["stage"]: h for h in history if h["val_loss"] == min(r["val_loss"] for r in history
                                                                         if r["stage"] == h["stage"])}
        training = {"epochs": epochs, "batch_size": s.batch_size, "lr": s.lr, "lr_phase": s.lr_phase,
                    "seed": s.seed, "train_size": int(len(H_train)), "val_size": int(len(H_val)), "channels": source,
                    "start": s.start if s.init_from is None else f"model {s.init_from}", "kept_epoch": {k: v["epoch"] for k, v in kept.items()}, "wall_seconds": wall}
        if s.track_every:
            training["tracking"] = {"every_batches": s.track_every, "batch_size": s.batch_size, "records": tracking}
        if online is not None:  # the kept epochs are the last frame's
            training["online"] = online
        section = {"sizes": {k: getattr(sizes, k) for k in _SIZE_KEYS}, "pilots": L, "hb_layers": Lh,
                   "pilot_power": pilot_power, "inverse": inverse, "design": s.design, "snr_db": s.snr_db,
                   "ssca": record, **({"pilot_boost_db": boost} if boost else {})}
        spec = HardwareSpec(n_antennas=sizes.n_tx, n_rf=sizes.n_rf_tx, n_users=sizes.n_users, phase_bits=None)
        config = ModelConfig("jcehb", spec, L + Lh, 1, training=training, history=history, family_config=section)
        save_model(model, config, s.out, overwrite=s.overwrite)
        stages = "; ".join(f"{k}: kept epoch {v['epoch']}, validation {'NMSE' if k == 'separate CE' else 'rate'} "
                           f"{abs(v['val_loss']):.4g}" for k, v in kept.items())
        layers = (f"L={L} pilots, DNNs in place of CEDUN and HBDUN" if s.design == "black-box"
                  else f"L={L} pilots / CEDUN layers, L_h={Lh} HBDUN layers")
        say(f"trained jcehb ({s.design}) {layers} (N_t={sizes.n_tx}, "
            f"N_t^RF={sizes.n_rf_tx}, N_r={sizes.n_rx}, N_r^RF={sizes.n_rf_rx}, K={sizes.n_users}, "
            f"N_s={sizes.n_streams}) in {wall} s; {stages}; model written to {s.out}")
        return {"model_dir": str(s.out), "wall_seconds": wall, "history": history}

    def _start_from(self, s: JcehbTrain) -> tuple[Any, Any, int, int]:
        """The network, sizes, pilots and HBDUN layers of ``--init-from``, refusing options that
        disagree with them."""
        model, config = self.load(s.init_from)
        if config.quantization is not None:
            raise ConfigError(f"--init-from {s.init_from} is quantized; start from its float model")
        sizes, c = self.sizes(config), config.family_config
        given = {"n_tx": sizes.n_tx, "n_rf_tx": sizes.n_rf_tx, "n_rx": sizes.n_rx, "n_rf_rx": sizes.n_rf_rx,
                 "users": sizes.n_users, "streams": sizes.n_streams, "pilots": c["pilots"], "hb_layers": c["hb_layers"],
                 "pilot_power": c["pilot_power"], "inverse": c["inverse"],
                 "pilot_boost": c.get("pilot_boost_db", 0.0)}
        for name, value in given.items():
            option = getattr(s, name)
            if option is not None and option != value:
                raise ConfigError(f"--{name.replace('_', '-')} {option} differs from {s.init_from}'s {value}")
        return model, sizes, c["pilots"], c["hb_layers"]

    def evaluate(self, s: JcehbEval, load: Callable[[Path], tuple[Any, Any]] | None = None,
                 say: Say = log_say) -> dict[str, Any]:
        from hbf_edge.families.jcehb.evaluate import evaluate_jcehb, format_table
        from hbf_edge.families.jcehb.overhead import signalling_bits
        from hbf_edge.families.jcehb.plots import plot_online, plot_overhead, plot_rates, plot_tracking
        from hbf_edge.kernels import REGISTRY

        model, config = (load or self.load)(s.model_dir)
        sizes = self.sizes(config)
        if s.rls_pilots < sizes.n_rf_tx:
            raise ConfigError(f"--rls-pilots {s.rls_pilots} is below N_t^RF = {sizes.n_rf_tx}: the RLS reference needs "
                              f"at least one pilot per BS RF chain")
        others, online_others = {}, {}
        for d in s.compare:
            other, oc = self.load(d)
            if self.sizes(oc) != sizes:
                raise ConfigError(f"--compare {d}: its sizes differ from {s.model_dir}'s")
            others[d.name] = other
            if (oc.training or {}).get("online"):  # an online run: its own curve in Fig. 17-18
                online_others[d.name] = oc.training["online"]
        H = (self.read_channels(s.channels, config) if s.channels is not None
             else self.draw_channels(config, s.count, s.seed))
        black_box = config.family_config["design"] == "black-box"
        if black_box and (s.test_pilots or s.test_users):
            raise ConfigError("--test-pilots and --test-users cut the unfolded network's layers and users; "
                              f"{s.model_dir} holds the black-box network")
        kernel = None
        if REGISTRY.has(self.spec.name) and not black_box:  # the kernel runs quantized models too (Q-bit phases)
            stage = REGISTRY.get(self.spec.name)
            kmodel = stage.load(s.model_dir)
            kernel = lambda H_, snr: stage.session(kmodel, H_, snr, s.noise_seed).run  # noqa: E731
        hardware = None
        if REGISTRY.has(self.spec.name) and config.quantization is not None:  # its integer datapath, scored
            hardware = lambda H_, snr: stage.forward_hw(s.model_dir, H_, snr, s.noise_seed)  # noqa: E731
        if any(n > config.family_config["pilots"] for n in s.test_pilots):
            raise ConfigError(f"--test-pilots {s.test_pilots}: the network has {config.family_config['pilots']} "
                              "pilots (CEDUN layers); it can run on fewer, not more")
        if any(k >= sizes.n_users for k in s.test_users):
            raise ConfigError(f"--test-users {s.test_users}: the network serves K = {sizes.n_users} users; it can be "
                              "tested on fewer, not as many or more")
        snrs = list(s.snr) if s.snr else [config.family_config["snr_db"]]
        results = evaluate_jcehb(model, sizes, H, snrs, s.rls_pilots, s.sca_iterations, s.noise_seed, others,
                                 kernel=kernel, hardware=hardware, test_pilots=tuple(s.test_pilots),
                                 test_users=tuple(s.test_users),
                                 progress=not s.quiet)
        results["signalling_bits"] = signalling_bits(sizes, config.family_config["pilots"], s.pilot_bits,
                                                     s.slots_per_frame, s.statistics_samples, s.frames)
        stamp(results, "evaluation", self.spec.name, s.model_dir)
        out = s.out if s.out is not None else s.model_dir / "eval"
        write_result(out / "results.json", results)
        plots = [plot_rates(results, out / "sum_rate.png"),
                 plot_overhead(results["signalling_bits"], out / "fig9_overhead.png")]
        track = (config.training or {}).get("tracking")
        if track:  # Fig. 16: trained with --track-every
            plots.append(plot_tracking(track, out / "fig16_tracking.png", str(config.training.get("start", ""))))
        online = (config.training or {}).get("online")
        if online:  # Fig. 17-18: trained with --online; compared online runs as curves, offline ones as lines
            train_snr = config.family_config["snr_db"]
            at = results["snr_db"].index(train_snr) if train_snr in results["snr_db"] else None
            offline = {} if at is None else {k.split(":", 1)[1]: v[at] for k, v in results["metrics"]["sum_rate"].items()
                                             if k.startswith("compare:") and k.split(":", 1)[1] not in online_others}
            plots.append(plot_online(online, out / "fig17_online.png", offline, results["n_channels"], online_others))
        say(f"sum rate (bit/s/Hz) and NMSE on {results['n_channels']} channels, pilot noise seed {s.noise_seed}, "
            f"baselines on the SSCA beams with {model.pilot_power} DFT pilots"
            + (f", pilots {model.pilot_boost_db:g} dB above the data SNR" if getattr(model, "pilot_boost_db", 0.0)
               else ""))
        say(format_table(results))
        cpu = results["cpu_us_per_channel"]
        say("CPU per channel and SNR: " + ", ".join(f"{k} {v:.0f} us" for k, v in cpu.items())
            + f" (reference / network {results['cpu_ratio_reference_over_network']}x, {results['cpu_timed_in']})")
        if "hardware_counters" in results:
            say(f"hardware: the integer datapath on the same slots; overflows per site "
                f"{ {k: v for k, v in results['hardware_counters'].items() if v} or 'none'}")
        o = results["signalling_bits"]
        say(f"signalling bits per superframe of {s.frames} frames (Fig. 9; q = {s.pilot_bits}, T_s = "
            f"{s.slots_per_frame}, N_sample = {s.statistics_samples}): single timescale {o['single'][-1]:,}, offline "
            f"mixed {o['offline'][-1]:,}, online mixed {o['online'][-1]:,}")
        say(f"wrote {out / 'results.json'} and {', '.join(p.name for p in plots)}")
        return results

    def profile(self, s: JcehbProfile, target: dict[str, Any], extra: dict[str, Any],
                say: Say = log_say) -> dict[str, Any]:
        from hbf_edge.families.jcehb.profile import profile_jcehb_command

        return profile_jcehb_command(self, s, target, extra, say)


CORE = JcehbCore()
