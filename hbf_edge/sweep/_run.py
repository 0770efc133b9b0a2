"""The sweep driver: tasks onto Dask (or inline), results streamed into the folder as they
finish, the stopping rule applied per point on its chunks in order.

Determinism: a point's statistics are merged over chunks 0, 1, 2, ... in that order, and the
stopping rule is checked after each chunk of that prefix, so where a point stops does not
depend on which worker finished first.  Chunks that finished beyond a point's stop are stored
but not kept.  Hence a sweep gives the same tables bit for bit on one process, on a local
cluster, on a remote one, after a worker was killed (Dask reruns its tasks) and after the whole
sweep was killed and rerun (the stored parts are read back, only the missing ones computed).
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path
from typing import Any, Callable

from hbf_edge._progress import progress_bar
from hbf_edge.errors import ClusterError, ConfigError
from hbf_edge.families._protocol import Say, log_say
from hbf_edge.sweep._spec import SweepSpec, chunk_seed
from hbf_edge.sweep._stats import merge, stopped
from hbf_edge.sweep._store import qat_dir, read_parts, write_part
from hbf_edge.sweep._task import run_chunk, run_qat

__all__ = ["execute", "open_client", "default_workers", "check_points"]


def default_workers() -> tuple[int, int]:
    """(worker processes, threads each) of the local cluster: one process with a thread per
    core (README, "Sweeps": 5-7 % faster than one single-threaded process per core in two runs
    each, and one torch import instead of one per core)."""
    return 1, os.cpu_count() or 1


class _Inline:
    """Runs each task when it is submitted, in this process (``--scheduler sync``: a debugger
    and a traceback see the task itself)."""

    dashboard_link = None

    def __init__(self) -> None:
        self.done: collections.deque = collections.deque()

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        self.done.append(fn(arg))
        return None

    def next_result(self) -> Any:
        return self.done.popleft()

    def close(self) -> None:
        pass


class _Dask:
    """A ``distributed.Client`` with results taken as they finish."""

    def __init__(self, client: Any, own: list[Any]) -> None:
        from distributed import as_completed

        self.client, self.own = client, own
        self.pending = as_completed(with_results=True)
        self.dashboard_link = getattr(client, "dashboard_link", None)

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        future = self.client.submit(fn, arg, pure=False)
        self.pending.add(future)
        return future

    def next_result(self) -> Any:
        from distributed import KilledWorker

        try:
            _, result = next(self.pending)
        except (KilledWorker, OSError, TimeoutError) as exc:
            raise ClusterError(f"the Dask cluster failed ({type(exc).__name__}: {exc}); every finished chunk is "
                               "kept: run the same command again to resume") from None
        return result

    def close(self) -> None:
        for thing in self.own:
            thing.close()


def open_client(scheduler: str | None, workers: int | None, threads: int | None, client: Any = None) -> Any:
    """The executor: an existing ``client``; ``"sync"``: inline; an address: that scheduler;
    None: a new local cluster of ``workers`` processes with ``threads`` threads each."""
    if client is not None:
        return _Dask(client, [])
    if scheduler == "sync":
        return _Inline()
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return _Dask(c := Client(scheduler, timeout="10s"), [c])
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"no Dask scheduler answers at {scheduler}: {exc}") from None
    import dask

    n, t = default_workers()
    n, t = workers or n, threads or t
    env = {"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": str(t), "HBF_EDGE_THREADS": str(t)}
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's
    # dynamic mmap threshold: every large temporary array is then mapped and unmapped afresh,
    # and the networks run ~4x slower (measured: README, "Sweeps").  Keep the thread variables.
    spawn_env = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                 if k != "MALLOC_TRIM_THRESHOLD_"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=t, processes=True, dashboard_address=":0", env=env,
                               silence_logs=40)
    client = Client(cluster)
    return _Dask(client, [client, cluster])


class _Point:
    """A point's progress: the prefix of chunks merged so far and why it stopped."""

    def __init__(self, point: dict[str, Any]) -> None:
        self.point, self.key = point, point["key"]
        self.next, self.stats, self.reason = 0, merge([]), None


def execute(spec: SweepSpec, out: Path, families: list[str], stages: Callable[[str], Any], executor: Any,
            threads: int | None, progress: bool, say: Say = log_say) -> dict[str, Any]:
    """Run every point of ``spec`` into ``out`` (made ready by ``_store.prepare``); returns the
    kept chunks per point, the rows and the timings.  ``families[i]``: the family of ``spec.models[i]``; ``stages(family)``: its
    quant stage (with the ``sweep`` hooks)."""
    t0 = time.perf_counter()
    rows, seconds = read_parts(out)
    designs = _qat(spec, out, families, stages, executor, threads, say)
    groups = spec.groups()
    members = {g: [_Point(p) for p in spec.points if (p["model"], p["snr_db"], p["seed"]) == g] for g in groups}
    n_chunks = spec.n_chunks
    resumed = len(rows)

    def advance(state: _Point) -> None:
        while state.reason is None and (state.key, state.next) in rows:
            state.stats = merge([state.stats, rows[(state.key, state.next)]])
            state.next += 1
            state.reason = stopped(state.stats, spec.stop) or ("all channels" if state.next == n_chunks else None)

    every = [s for g in groups for s in members[g]]
    for state in every:
        advance(state)
    queue = collections.deque((gi, c) for c in range(n_chunks) for gi in range(len(groups)))
    limit = 2 * max(1, _slots(executor))
    inflight, computed = 0, 0
    bar = progress_bar(total=sum(n_chunks - s.next for s in every if s.reason is None), progress=progress,
                       desc="sweep", unit="chunk")
    try:
        while True:
            while inflight < limit and queue:
                gi, c = queue.popleft()
                (m, snr, seed), active = groups[gi], [s for s in members[groups[gi]] if s.reason is None
                                                and (s.key, c) not in rows]
                if not active:
                    continue
                executor.submit(run_chunk, {
                    "family": families[m], "hooks": stages(families[m]).sweep, "model_dir": spec.models[m],
                    "snr_db": snr, "count": spec.chunk_size(c), "seed": chunk_seed(seed, c),
                    "points": [s.point for s in active], "designs": {s.key: designs[s.key] for s in active
                                                                   if s.key in designs},
                    "group": gi, "chunk": c, "threads": threads})
                inflight += 1
            if not inflight:
                break
            result = executor.next_result()
            inflight -= 1
            write_part(out, result["group"], result["chunk"], result["rows"], result["seconds"])
            for row in result["rows"]:
                rows[(row["key"], result["chunk"])] = row
                seconds[(row["key"], result["chunk"])] = float(result["seconds"][row["key"]])
            computed += len(result["rows"])
            before = sum(s.next for s in members[groups[result["group"]]])
            for state in members[groups[result["group"]]]:
                advance(state)
            bar.update(sum(s.next for s in members[groups[result["group"]]]) - before)
            bar.total = bar.n + sum(n_chunks - s.next for s in every if s.reason is None)
            bar.set_postfix_str(f"points done {sum(s.reason is not None for s in every)}/{len(every)}", refresh=True)
    finally:
        bar.close()
    return {"kept": {s.key: s.next for s in every}, "reasons": {s.key: s.reason for s in every}, "rows": rows,
            "seconds": seconds, "computed_rows": computed, "resumed_rows": resumed,
            "wall_seconds": round(time.perf_counter() - t0, 2)}


def _slots(executor: Any) -> int:
    """Threads of the cluster (1 inline)."""
    client = getattr(executor, "client", None)
    if client is None:
        return 1
    return max(1, sum(client.nthreads().values()))


def _qat(spec: SweepSpec, out: Path, families: list[str], stages: Callable[[str], Any], executor: Any,
         threads: int | None, say: Say) -> dict[str, str]:
    """The QAT directory of every ``qat`` point, retrained in parallel where missing."""
    todo = [p for p in spec.points if p["stage"] == "qat"]
    if not todo:
        return {}
    say(f"QAT of {len(todo)} point(s) into {out / 'qat'} (kept for a rerun)")
    for p in todo:
        executor.submit(run_qat, {"quant": stages(families[p["model"]]), "model_dir": spec.models[p["model"]],
                                  "out": str(qat_dir(out, p["key"])), "point": p, "options": spec.qat,
                                  "threads": threads})
    for _ in todo:
        executor.next_result()
    return {p["key"]: str(qat_dir(out, p["key"])) for p in todo}


def check_points(spec: SweepSpec, families: list[str], stages: Callable[[str], Any]) -> None:
    """Refuse, before any work, a point whose family cannot run it."""
    for p in spec.points:
        family = families[p["model"]]
        hooks = getattr(stages(family), "sweep", None)
        if hooks is None:
            raise ConfigError(f"the {family} family has no sweep hooks yet (model {spec.models[p['model']]})")
        hooks.check(Path(spec.models[p["model"]]), p)
