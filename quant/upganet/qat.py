"""Quantization-aware UPGANet (JCAS): Q-bit phase codes in every layer, a fixed-point W out.

:class:`QuantUPGANet` is :class:`hbf_edge.families.upganet.model.UPGANet` with the hardware's two constraints in
the loop, through Brevitas straight-through estimators:

* the initialisation (17) and every layer's F -- after its J inner steps, each projected onto
  the unit circle by (7) -- are put on the Q-bit code book
  (:class:`~quant._core.quantizers.PhaseQuant`, the code rule of :func:`hbf_edge.hw.spec.phase_to_code`),
  so every layer's W-step and the next layer start from phases the shifters can apply;
* the output W is stored power-normalised (``||F W_hw||_F^2 = N``, the UPGA hardware
  convention) in a saturating fixed-point format (:class:`~quant._core.quantizers.FixedPointQuant`),
  and the true precoder is ``sqrt(P_BS / N) W_hw``.

The gradient arithmetic between projections stays float.  The bit-accurate integer kernel
:func:`kernels.upganet_forward_hw` runs the same projections in fixed point; on the README's
4-bit model it matches this network's rate to 0.1 % and its beampattern MSE to 0.01 dB.
Trainable parameters are the step sizes, initialised from the float model; the loss is
eq. (16) on the quantized design.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from hbf_edge import cplx
from hbf_edge.channels import saleh_valenzuela_like, validate_miso_channels
from hbf_edge.cplx import C
from hbf_edge.errors import ConfigError
from hbf_edge.families.upganet.model import UPGANet, init_jcas, jcas_f_steps, jcas_objective, jcas_w_step
from hbf_edge.modelfiles import ModelConfig
from hbf_edge.hw.precision import PrecisionConfig
from hbf_edge.hw.spec import FixedPointFormat
from hbf_edge.training import TrainConfig, fit
from hbf_edge.families.upga.model import Precoders, check_powers, normalize_power

from hbf_edge.quant._core.quantizers import FixedPointQuant, PhaseQuant

__all__ = ["QuantUPGANet", "train_qat_upganet", "quantize_phases", "load_quant_upganet", "upganet_retention"]


def quantize_phases(F: C, quant: PhaseQuant) -> tuple[C, torch.Tensor]:
    """Project F onto the Q-bit code book: ``(exp(j 2 pi c / 2**Q), c)``; STE gradient."""
    theta = torch.atan2(F.im, F.re)
    angle = quant(theta)
    return C(torch.cos(angle), torch.sin(angle)), quant.codes(theta).detach().to(torch.int64)


class QuantUPGANet(UPGANet):
    """UPGANet with Q-bit phase projections and a fixed-point output W (module notes).

    Parameters
    ----------
    float_model : UPGANet
        Sizes, scenario, Psi_1 and the starting step sizes.
    phase_bits : int
        Q, 1..8.
    precoder : FixedPointFormat
        Format of the power-normalised output W (saturating).
    """

    def __init__(self, float_model: UPGANet, phase_bits: int, precoder: FixedPointFormat) -> None:
        psi1 = float_model.psi_re.numpy() + 1j * float_model.psi_im.numpy()
        super().__init__(float_model.n_layers, float_model.n_inner, float_model.n_rf, psi1, float_model.scenario,
                         eta=float_model.eta)
        if isinstance(phase_bits, bool) or not isinstance(phase_bits, int) or not 1 <= phase_bits <= 8:
            raise ConfigError(f"phase bits must be an integer in 1..8, got {phase_bits!r}")
        with torch.no_grad():
            self.mu.copy_(float_model.mu)
            self.lam.copy_(float_model.lam)
        self.phase = PhaseQuant(phase_bits)
        self.precoder = FixedPointQuant(precoder)

    @property
    def phase_bits(self) -> int:
        return self.phase.bits

    def run_quantized(self, H: C, p_t: torch.Tensor, noise: torch.Tensor, trajectory: bool = False
                      ) -> tuple[Precoders, torch.Tensor, C, list[torch.Tensor] | None]:
        """The quantized design: ``((F, W), codes [B, N, M], W_hw, objectives)``."""
        dtype = H.re.dtype
        check_powers(p_t, noise, H.re.shape[0])
        psi1 = self.psi1(dtype)
        mu, lam = self.mu.to(dtype), self.lam.to(dtype)
        F, W = init_jcas(H, p_t, self.n_rf, C(self.steer_re.to(dtype), self.steer_im.to(dtype)))
        F, codes = quantize_phases(F, self.phase)
        W = normalize_power(F, W, p_t)
        objs = [jcas_objective(H, F, W, noise, psi1, p_t, self.omega)] if trajectory else None
        for i in range(self.n_layers):
            F = jcas_f_steps(H, F, W, p_t, noise, psi1, mu[i], self.omega)
            F, codes = quantize_phases(F, self.phase)  # (7) onto the code book
            W = jcas_w_step(H, F, W, p_t, noise, psi1, lam[i], self.omega, self.eta)
            if objs is not None:
                objs.append(jcas_objective(H, F, W, noise, psi1, p_t, self.omega))
        n = H.re.shape[1]
        rho = torch.sqrt(p_t / n)[:, None, None]
        W_hw = C(self.precoder(W.re / rho), self.precoder(W.im / rho))
        W = C(W_hw.re * rho, W_hw.im * rho)
        if objs is not None:
            objs[-1] = jcas_objective(H, F, W, noise, psi1, p_t, self.omega)
        return Precoders(F, W), codes, W_hw, objs

    def run(self, H: C, p_t: torch.Tensor, noise: torch.Tensor, trajectory: bool = False,
            init: str = "proposed", seed: int = 0) -> tuple[Precoders, list[torch.Tensor] | None]:
        if init != "proposed":
            raise ConfigError("the quantized network starts from initialisation (17) only")
        design, _, _, objs = self.run_quantized(H, p_t, noise, trajectory)
        return design, objs


def train_qat_upganet(
    model: UPGANet, float_config: ModelConfig, phase_bits: int, precoder: FixedPointFormat, config: TrainConfig,
    H_train: np.ndarray | None = None, progress: bool = True,
) -> tuple[QuantUPGANet, ModelConfig]:
    """Retrain the step sizes of ``model`` with the quantization in the loop (loss eq. 16);
    ``config.lr`` is relative to the mean float step of each kind, as in float training."""
    spec = float_config.spec
    if H_train is None:
        H_train = saleh_valenzuela_like(float_config, config.train_size, config.seed)
    H_train = validate_miso_channels(H_train, spec.n_antennas, spec.n_users, name="training channels")
    qmodel = QuantUPGANet(model, phase_bits, precoder)

    def loss_fn(H: cplx.C, p_t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        (F, W), _, _, _ = qmodel.run_quantized(H, p_t, noise)
        return -jcas_objective(H, F, W, noise, qmodel.psi1(H.re.dtype), p_t, qmodel.omega).mean()

    # as in float training, each step size learns at config.lr times its own scale
    groups = [{"params": [qmodel.mu], "lr": config.lr * float(qmodel.mu.detach().abs().mean())},
              {"params": [qmodel.lam], "lr": config.lr * float(qmodel.lam.detach().abs().mean())}]
    history = fit(qmodel, loss_fn, H_train, config, progress, desc=f"QAT UPGANet Q={phase_bits}",
                  param_groups=groups)
    qconfig = dataclasses.replace(
        float_config, spec=spec.replace(phase_bits=phase_bits), history=history,
        precision=PrecisionConfig.uniform_config(spec, float_config.n_layers, phase_bits, precoder).to_dict(),
        quantization={"method": "qat", "train": dataclasses.asdict(config)},
    )
    return qmodel, qconfig


def load_quant_upganet(model: UPGANet, config: ModelConfig) -> QuantUPGANet:
    """Rebuild a :class:`QuantUPGANet` from a loaded quantized UPGANet model directory."""
    if config.precision is None:
        raise ConfigError("this UPGANet model directory is not quantized")
    base = PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers).base
    return QuantUPGANet(model, base.phase_bits, base.precoder)



def upganet_retention(float_model: UPGANet, qmodel: QuantUPGANet, H: np.ndarray, snr_db: list[float],
                   noise: float = 1.0) -> dict:
    """Sum rate and beampattern MSE of the float model, of PTQ (the quantized network with the
    float steps, no retraining) and of ``qmodel`` on channels ``H`` at each SNR.

    Returns a dict with ``snr_db``, ``sum_rate``/``mse_db``/``objective`` (method -> list) and
    ``retention`` (rate of each quantized method / float rate) and ``mse_delta_db``
    (quantized MSE minus float MSE, dB).
    """
    from hbf_edge.families.upganet.model import beampattern_error
    from hbf_edge.objectives import sum_rate
    from hbf_edge.families.upganet.sensing import beampattern_mse
    from hbf_edge.units import snr_db_to_power

    H = validate_miso_channels(H, name="evaluation channels")
    Hc = cplx.from_complex(torch.from_numpy(np.ascontiguousarray(H, dtype=np.complex128)))
    ptq = QuantUPGANet(float_model, qmodel.phase_bits, qmodel.precoder.fmt)
    methods = {"float": float_model, "ptq": ptq, "qat": qmodel}
    psi1 = float_model.psi_re.numpy() + 1j * float_model.psi_im.numpy()
    B = H.shape[0]
    out: dict = {"snr_db": list(map(float, snr_db)), "n_channels": B, "phase_bits": qmodel.phase_bits,
                 "precoder": dataclasses.asdict(qmodel.precoder.fmt)}
    for key in ("sum_rate", "mse_db", "objective"):
        out[key] = {m: [] for m in methods}
    noise_t = torch.full((B,), float(noise), dtype=torch.float64)
    for snr in snr_db:
        p_np = snr_db_to_power(np.full(B, snr), noise)
        p_t = torch.from_numpy(p_np)
        with torch.no_grad():
            for name, m in methods.items():
                F, W = m.run(Hc, p_t, noise_t)[0]
                R = sum_rate(Hc, F, W, noise_t)
                tau = beampattern_error(F, W, m.psi1(), p_t)
                X = cplx.to_complex(cplx.matmul(F, W)).numpy()
                mse = beampattern_mse(X, psi1 * p_np[:, None, None], float_model.scenario.grid_deg)
                out["sum_rate"][name].append(float(R.mean()))
                out["objective"][name].append(float((R - m.omega * tau).mean()))
                out["mse_db"][name].append(float(10.0 * np.log10(mse.mean())))
    out["retention"] = {m: [q / f for q, f in zip(out["sum_rate"][m], out["sum_rate"]["float"])]
                        for m in ("ptq", "qat")}
    out["mse_delta_db"] = {m: [q - f for q, f in zip(out["mse_db"][m], out["mse_db"]["float"])]
                           for m in ("ptq", "qat")}
    return out
