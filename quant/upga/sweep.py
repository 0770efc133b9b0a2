"""What a design-space sweep (``hbf-edge sweep``) asks of UPGA: the per-channel sum rate of every
point's design on one chunk of channels, and QAT of one point.

The stages of a point (``hbf_edge.sweep``):

* ``float``: the float network (torch, the same forward as ``hbf-edge evaluate``);
* ``ptq_round`` / ``ptq_refit``: its design with the phases rounded to Q bits and W rounded
  (refit: first refitted by zero forcing) to the W-bit precoder word (:mod:`quant.upga.ptq`,
  the retention tables' baselines);
* ``hardware``: the model's step sizes run through the bit-accurate integer kernel at the
  point's precision -- Q bits in every layer and a W-bit precoder word, or a per-layer precision
  file -- with the directory's output stage if it is a quantized one (PTQ of the network itself);
* ``qat``: the network retrained by ``hbf-edge quantize`` at the point's Q and W (its directory
  is written once per point by :meth:`UpgaSweep.qat`) and run through the integer kernel, which
  equals the QAT network code for code.

The metric is the sum rate of eq. (4) per channel, in bit/s/Hz; the reference of a point is
the float network's sum rate on the same channels.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import numpy as np

from hbf_edge.families.upga.config import refuse_snr_steps

__all__ = ["SWEEP", "UpgaSweep"]


@functools.lru_cache(maxsize=8)
def _float_model(model_dir: str, stamp: float) -> tuple[Any, Any, dict[str, np.ndarray]]:
    """The float torch network, config and arrays of a directory, once per worker process
    (``stamp``: the config's mtime, so that a rewritten directory is read again)."""
    from hbf_edge.modeldir import load_model
    from hbf_edge.modelfiles import read_model_dir

    model, config = load_model(model_dir)
    _, arrays = read_model_dir(model_dir)
    return model, config, arrays


def _load(model_dir: str | Path) -> tuple[Any, Any, dict[str, np.ndarray]]:
    path = Path(model_dir)
    return _float_model(str(path), (path / "config.json").stat().st_mtime)


class UpgaSweep:
    """The sweep hooks of UPGA (:class:`hbf_edge.families._protocol.SweepHooks`)."""

    stages = ("float", "ptq_round", "ptq_refit", "hardware", "qat")
    datapath_stages = ("hardware", "qat")  # run the integer datapath and its lookup tables
    metric = "sum_rate"
    unit = "bit/s/Hz"
    higher_is_better = True

    def precision(self, model_dir: Path, point: dict[str, Any]) -> Any:
        """The :class:`~hbf_edge.hw.precision.PrecisionConfig` of a point: its precision file, or
        Q bits everywhere and a W-bit precoder word (``-Q``/``-B`` of ``hbf-edge quantize``)."""
        from hbf_edge.hw.precision import PrecisionConfig
        from hbf_edge.quant.upga.stage import precoder_format

        _, config, _ = _load(model_dir)
        if point.get("precision"):
            return PrecisionConfig.load(point["precision"], config.spec, config.n_layers)
        return PrecisionConfig.from_bits(config.spec, config.n_layers, int(point["phase_bits"]),
                                         precoder_format(int(point["word_bits"])))

    def check(self, model_dir: Path, point: dict[str, Any]) -> None:
        """Refuse (ConfigError) a point this model cannot run, before any work."""
        from hbf_edge.errors import ConfigError

        if point["stage"] not in self.stages:
            raise ConfigError(f"UPGA sweeps run the stages {', '.join(self.stages)}; got {point['stage']!r}")
        refuse_snr_steps(_load(model_dir)[1].family_config, model_dir, "a sweep takes")
        if point["stage"] != "float":
            specs = self.precision(model_dir, point).layer_specs()
            if not 1 <= specs[-1].phase_bits <= 8:
                raise ConfigError(f"the UPGA datapath takes 1..8 phase bits, got Q={specs[-1].phase_bits}")

    def chunk(self, model_dir: Path, H: np.ndarray, snr_db: float, points: list[dict[str, Any]],
              designs: dict[str, Path] | None = None) -> dict[str, Any]:
        """Sum rate per channel of every point's design on ``H [B, N, K]`` at ``snr_db``.

        Parameters
        ----------
        points : list of dict
            ``{"key", "stage", "phase_bits", "word_bits", "precision"}`` each.
        designs : dict, optional
            Point key -> the QAT directory of a ``qat`` point.

        Returns
        -------
        dict
            ``reference``: float64 [B], the float network's sum rate; ``values``: key -> float64
            [B]; ``seconds``: key -> wall seconds of the point's design on the chunk.
        """
        from hbf_edge.baselines import sum_rate_np
        from hbf_edge.quant.upga.ptq import ptq_phases, ptq_words
        from hbf_edge.units import snr_db_to_power

        B = H.shape[0]
        p_t, n = np.full(B, float(snr_db_to_power(snr_db, 1.0))), np.ones(B)
        t0 = time.perf_counter()
        F, W = self.float_design(model_dir, H, p_t, n)
        reference = sum_rate_np(H, F @ W, n)
        float_seconds = time.perf_counter() - t0
        values, seconds, phases = {}, {}, {}
        for point in points:
            t0 = time.perf_counter()
            stage = point["stage"]
            if stage == "float":
                values[point["key"]] = reference
                seconds[point["key"]] = float_seconds
                continue
            if stage in self.datapath_stages:
                where = Path((designs or {})[point["key"]]) if stage == "qat" else None
                Fq, Wq = self.hardware_design(model_dir, H, p_t, n, point, where)
            else:  # the codes and the refit depend on Q alone: once per Q for every word length
                last = self.precision(model_dir, point).layer_specs()[-1]
                if (stage, last.phase_bits) not in phases:
                    phases[(stage, last.phase_bits)] = ptq_phases(F, W, H, p_t, last.phase_bits, stage[len("ptq_"):])
                _, Fq, Wn = phases[(stage, last.phase_bits)]
                Wq = ptq_words(Wn, p_t, H.shape[1], last.precoder)
            values[point["key"]] = sum_rate_np(H, Fq @ Wq, n)
            # a PTQ design needs the float network first; the first word length of a Q also
            # pays for that Q's phase rounding
            seconds[point["key"]] = time.perf_counter() - t0 + (float_seconds if stage.startswith("ptq_") else 0.0)
        return {"reference": reference, "values": values, "seconds": seconds}

    def float_design(self, model_dir: Path, H: np.ndarray, p_t: np.ndarray, n: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """``F [B, N, M]``, ``W [B, M, K]`` of the float network (torch, as ``evaluate``)."""
        import torch

        from hbf_edge import cplx

        model, _, _ = _load(model_dir)
        with torch.no_grad():
            (F, W), _ = model.run(cplx.from_complex(torch.from_numpy(H)), torch.from_numpy(p_t), torch.from_numpy(n))
        return cplx.to_complex(F).numpy(), cplx.to_complex(W).numpy()

    def hardware_design(self, model_dir: Path, H: np.ndarray, p_t: np.ndarray, n: np.ndarray, point: dict[str, Any],
                        qat_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
        """Applied ``F``, ``W`` of the integer kernel: the QAT directory at its own precision,
        or the model's steps at the point's."""
        from hbf_edge.kernels.upga.hardware import model_search, upga_forward_hw
        from hbf_edge.kernels.upga.stage import hardware_design
        from hbf_edge.modelfiles import read_model_dir

        if qat_dir is not None:
            r = hardware_design(read_model_dir(qat_dir), H, p_t, n)
        else:
            _, config, arrays = _load(model_dir)
            specs = self.precision(model_dir, point).layer_specs()
            r = upga_forward_hw(np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag), p_t, n, arrays["mu"],
                                arrays["lam"], specs[0], specs, xi=config.output_xi, search=model_search(config))
        return r.analog(), r.digital()

    def qat_precision(self, point: dict[str, Any]) -> dict[str, Any]:
        """The quantize settings that give the point's precision."""
        if point.get("precision"):
            return {"precision": Path(point["precision"])}
        return {"phase_bits": int(point["phase_bits"]), "precoder_bits": int(point["word_bits"])}

    def qat(self, quant: Any, model_dir: Path, out: Path, point: dict[str, Any], options: dict[str, Any]) -> Path:
        """Retrain ``model_dir`` for the point's precision into ``out`` with ``hbf-edge
        quantize``'s defaults and ``options`` (the spec's ``[qat]`` table: any field of
        :class:`quant.upga.stage.UpgaQuant`)."""
        from hbf_edge.errors import ConfigError

        fields = {f.name for f in dataclasses.fields(quant.quant_settings)}
        unknown = sorted(set(options) - fields)
        if unknown:
            raise ConfigError(f"[qat] has unknown option(s) {', '.join(unknown)}; UPGA's are {', '.join(sorted(fields))}")
        where = self.qat_precision(point)
        settings = quant.quant_settings(**{"quiet": True, **options, **where, "model_dir": Path(model_dir),
                                           "out": Path(out), "overwrite": True})
        quant.quantize(settings, say=lambda line: None)
        return Path(out)


SWEEP = UpgaSweep()
