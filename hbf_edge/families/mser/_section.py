"""The ``mser`` section of a model directory: what it must hold and the arrays it implies.

Checked when a directory loads (:meth:`~hbf_edge.families.mser.core.MserCore.check_config`):
the unfolded network's section (sizes, its initial and GD-L steps, the symbols per layer, the
step shape and offsets; optionally its start and a candidate table with its scoring vectors,
absent in older directories) or the benchmark CNN's.  Every failure is one
:class:`~hbf_edge.errors.ModelDirError` line.
"""

from __future__ import annotations

from typing import Any, Callable

from hbf_edge.errors import ConfigError, ModelDirError

__all__ = ["SIZE_KEYS", "check_section", "network_arrays"]

SIZE_KEYS = ("n_tx", "n_rf_tx", "n_users", "n_rx", "n_rf_rx", "n_streams", "constellation")
_SECTION = {"sizes", "steps", "gd_steps", "samples", "step_shape", "offsets", "symbol_seed"}
_OPTIONAL = {"start", "candidates", "score_samples"}
_CNN_SECTION = {"sizes", "gd_steps", "samples", "symbol_seed", "design", "cnn"}


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def check_section(config: Any, sizes: Callable[[Any], Any], gd_steps: Callable[..., Any]) -> None:
    """Check ``config.family_config``; ``sizes(config)`` and ``gd_steps(config, key)`` build its
    sizes and steps (and raise on bad ones)."""
    c = config.family_config
    if isinstance(c, dict) and c.get("design") == "cnn":
        return _check_cnn(config, sizes, gd_steps)
    if not isinstance(c, dict) or not _SECTION <= set(c) <= _SECTION | _OPTIONAL:
        raise ModelDirError(f"the mser section must hold {sorted(_SECTION)} (and optionally "
                            f"{', '.join(sorted(_OPTIONAL))})")
    if ("candidates" in c) != ("score_samples" in c):
        raise ModelDirError("mser.candidates and mser.score_samples come together")
    try:
        z = sizes(config)
        gd_steps(config, "steps")
        gd_steps(config)
        from hbf_edge.families.mser.start import check_start

        check_start(c.get("start"))
        if "candidates" in c:
            from hbf_edge.families.mser.candidates import check_candidates

            check_candidates(c["candidates"])
            if not _count(c["score_samples"]):
                raise ConfigError(f"score_samples must be a positive integer, got {c['score_samples']!r}")
    except (TypeError, ValueError, ConfigError) as exc:
        raise ModelDirError(f"the mser section is invalid: {exc}") from exc
    if set(c["sizes"]) != set(SIZE_KEYS):
        raise ModelDirError(f"mser.sizes must hold {list(SIZE_KEYS)}")
    if c["step_shape"] not in ("scalar", "matrix") or not isinstance(c["offsets"], bool):
        raise ModelDirError("mser.step_shape must be scalar or matrix and mser.offsets a boolean")
    if c["offsets"] and c["step_shape"] != "matrix":
        raise ModelDirError("mser.offsets needs step_shape matrix")
    for k in ("samples", "symbol_seed"):
        if isinstance(c[k], bool) or not isinstance(c[k], int) or c[k] < (1 if k == "samples" else 0):
            raise ModelDirError(f"mser.{k} must be a non-negative integer, got {c[k]!r}")
    _check_spec(config, z)


def _check_spec(config: Any, z: Any) -> None:
    if (config.spec.n_antennas, config.spec.n_rf, config.spec.n_users) != (z.n_tx, z.n_rf_tx, z.n_users):
        raise ModelDirError("the hardware spec's N, M, K differ from mser.sizes' N_t, R_t, K")


def _check_cnn(config: Any, sizes: Callable[[Any], Any], gd_steps: Callable[..., Any]) -> None:
    """The benchmark CNN's section: sizes, the GD-L baseline's steps and symbols, the CNN's shape."""
    c = config.family_config
    if set(c) != _CNN_SECTION:
        raise ModelDirError(f"the mser section of a CNN must hold {sorted(_CNN_SECTION)}")
    try:
        z = sizes(config)
        gd_steps(config)
    except (TypeError, ConfigError) as exc:
        raise ModelDirError(f"the mser section is invalid: {exc}") from exc
    if set(c["sizes"]) != set(SIZE_KEYS):
        raise ModelDirError(f"mser.sizes must hold {list(SIZE_KEYS)}")
    cnn = c["cnn"]
    if (not isinstance(cnn, dict) or set(cnn) != {"conv_channels", "hidden"}
            or not isinstance(cnn["conv_channels"], list) or not 1 <= len(cnn["conv_channels"]) <= 8
            or not all(_count(v) for v in [*cnn["conv_channels"], cnn["hidden"]])):
        raise ModelDirError("mser.cnn must be {conv_channels: [1..8 positive integers], hidden: positive integer}")
    if not _count(c["samples"]):
        raise ModelDirError(f"mser.samples must be a positive integer, got {c['samples']!r}")
    _check_spec(config, z)


def network_arrays(config: Any, z: Any) -> dict[str, tuple[int, ...]]:
    """The unfolded network's arrays and their shapes (sizes ``z``)."""
    c = config.family_config
    L, Lf = config.n_layers, max(config.n_layers - 1, 0)
    K, Rt, Rr, Nr, Nt, Dk = z.n_users, z.n_rf_tx, z.n_rf_rx, z.n_rx, z.n_tx, z.n_streams

    def shape(*s: int) -> tuple[int, ...]:
        return s if c["step_shape"] == "matrix" else s[:-2] + (1, 1)

    out = {"a_p": shape(L, K, Rt, Dk) + (2,), "a_w": shape(L, K, Rr, Dk) + (2,), "a_u": shape(L, K, Rr, Nr),
           "a_f": shape(Lf, Nt, Rt), "log_r": (L, 3, K), "log_r_f": (Lf,),
           "symbols": (L, K * Dk, c["samples"], 2)}
    if "candidates" in c:
        out.update(candidates=(len(c["candidates"]), 4), score_symbols=(K * Dk, c["score_samples"], 2))
    if c["offsets"]:
        out.update(o_p=(L, K, Rt, Dk, 2), o_w=(L, K, Rr, Dk, 2), o_u=(L, K, Rr, Nr), o_f=(Lf, Nt, Rt))
    return out
