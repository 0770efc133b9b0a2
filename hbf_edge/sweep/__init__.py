"""Design-space sweeps (``hbf-edge sweep SPEC.toml --out DIR``) on Dask, local by default.

A sweep runs a grid (or a list) of points -- model x stage x SNR x phase bits x word length (or
a per-layer precision file) -- on chunks of channels drawn on the workers from (seed, chunk),
streams each finished chunk into ``DIR``, stops each point by its own rule, and ends with a
tidy Parquet table (one row per point x chunk, the sufficient statistics that merge exactly),
a summary per point with 95 % intervals, and plots.  See :mod:`hbf_edge.sweep._spec` for the
spec, :mod:`hbf_edge.sweep._store` for the folder, :mod:`hbf_edge.sweep._run` for why the
result does not depend on the cluster.

The family's part is its quant stage's ``sweep`` hooks (``quant/<family>/sweep.py``): the
stages it runs and the per-channel metric of each point on a chunk.  The composition root
(the CLI) passes the stages in; this package imports no stage beyond ``hbf_edge``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from hbf_edge.errors import ConfigError
from hbf_edge.families._protocol import Say, log_say
from hbf_edge.sweep._run import check_points, default_workers, execute, open_client
from hbf_edge.sweep._spec import SweepSpec, StopRule, chunk_seed, read_spec

__all__ = ["run_sweep", "read_spec", "SweepSpec", "StopRule", "chunk_seed", "default_workers"]


def run_sweep(spec: SweepSpec | str | Path, out: str | Path, quant: Callable[[str], Any],
              export: Callable[[str], Any] | None = None, *, scheduler: str | None = None,
              workers: int | None = None, threads: int | None = None, client: Any = None, overwrite: bool = False,
              progress: bool = True, say: Say = log_say) -> dict[str, Any]:
    """Run a sweep into ``out`` (resuming what a previous run of the same sweep left there).

    Parameters
    ----------
    spec : SweepSpec or path of a TOML spec
    quant : callable
        Family name -> its quant stage (``hbf_edge.quant.REGISTRY.get``), whose ``sweep`` hooks run
        the points.
    export : callable, optional
        Family name -> its export stage; one with ``lut_bits`` gives each point's table bits.
    scheduler : str, optional
        None: a new local cluster (``workers`` processes x ``threads`` threads, default one
        process with a thread per core); ``"sync"``: every task inline in this process; else
        the address of a running Dask scheduler.
    client : distributed.Client, optional
        An existing client (an in-process cluster in tests); overrides ``scheduler``.

    Returns
    -------
    dict
        The summary (also in ``out/summary.json``): one record per point, and how the sweep ran.
    """
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.sweep._plots import plot_sweep
    from hbf_edge.sweep._store import prepare, write_tables
    from hbf_edge.sweep._summary import fronts, summarize_points, write_summary

    spec = spec if isinstance(spec, SweepSpec) else read_spec(spec)
    out = Path(out)
    if workers is not None and workers < 1 or threads is not None and threads < 1:
        raise ConfigError("--workers and --threads must be >= 1")
    families = [read_model_dir(m)[0].family for m in spec.models]
    check_points(spec, families, quant)
    hooks = quant(families[0]).sweep
    metrics = sorted({quant(f).sweep.metric for f in families})
    if len(metrics) > 1:  # one summary, one axis: its points must be scored alike
        raise ConfigError(f"a sweep scores one metric; these models' families score {', '.join(metrics)}")
    prepare(out, spec, overwrite)  # before a cluster starts: a wrong --out costs nothing
    executor = open_client(scheduler, workers, threads, client)
    if executor.dashboard_link:
        say(f"Dask dashboard: {executor.dashboard_link}")
    try:
        run = execute(spec, out, families, quant, executor, threads, progress, say)
    finally:
        executor.close()
    points = [{**p, "model": spec.models[p["model"]], "family": families[p["model"]]} for p in spec.points]

    def lut_bits(p: dict[str, Any]) -> int | None:
        stage = export(p["family"]) if export is not None else None
        if stage is None or not hasattr(stage, "lut_bits") or p["stage"] not in quant(p["family"]).sweep.datapath_stages:
            return None
        if p["stage"] == "qat":
            from hbf_edge.hw.precision import PrecisionConfig
            from hbf_edge.sweep._store import qat_dir

            config, _ = read_model_dir(qat_dir(out, p["key"]))
            return stage.lut_bits(qat_dir(out, p["key"]),
                                  PrecisionConfig.from_dict(config.precision, config.spec, config.n_layers))
        return stage.lut_bits(Path(p["model"]), quant(p["family"]).sweep.precision(Path(p["model"]), p))

    write_tables(out, points, run["kept"], run["rows"], run["seconds"])
    records = summarize_points(points, run, lut_bits)
    result = {"schema": 1, "kind": "sweep", "metric": hooks.metric, "unit": hooks.unit, "spec": spec.to_dict(),
              "points": records, "pareto_lut_bits": fronts(records, hooks.higher_is_better),
              "wall_seconds": run["wall_seconds"],
              "computed_rows": run["computed_rows"],
              "resumed_rows": run["resumed_rows"],
              "cluster": "sync" if scheduler == "sync" and client is None else (scheduler or "local")}
    write_summary(out, result)
    plots = plot_sweep(records, out, f"{hooks.metric} ({hooks.unit})", hooks.higher_is_better)
    say(f"sweep of {len(records)} point(s): {run['computed_rows']} chunk rows computed, {run['resumed_rows']} read "
        f"back, in {run['wall_seconds']} s; wrote {out / 'results.parquet'}, summary.json/.csv"
        + (", " + ", ".join(p.name for p in plots) if plots else ""))
    return result
