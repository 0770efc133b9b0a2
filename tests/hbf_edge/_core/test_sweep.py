"""hbf-edge sweep: the spec, the statistics, and whole sweeps of a small UPGA model inline and
on an in-process Dask cluster (identical tables, resume, stopping rule, QAT points)."""

import json
import math
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from helpers import quantized_model_dir
from hbf_edge.errors import ConfigError
from hbf_edge.sweep import StopRule, chunk_seed, read_spec, run_sweep
from hbf_edge.sweep._stats import chunk_stats, merge, stopped, summarize


def _stages():
    from hbf_edge.export import REGISTRY as EXPORTS
    from hbf_edge.quant import REGISTRY as QUANTS

    return QUANTS.get, EXPORTS.get


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    quantized_model_dir(root, 8, 3, {"default": {"phase_bits": 3}})
    return root / "float"


def _spec(tmp_path, model, body):
    path = tmp_path / "spec.toml"
    path.write_text(f'models = ["{model}"]\n' + body)
    return path


GRID = 'stages = ["float", "ptq_round", "ptq_refit", "hardware"]\nsnr_db = [5, 15]\nphase_bits = [2, 4]\n' \
       'word_bits = [8, 12]\nchannels = 120\nchunk = 50\nseed = 7\n'


def test_spec_expands_the_grid(tmp_path, model):
    spec = read_spec(_spec(tmp_path, model, GRID))
    assert len(spec.points) == 2 + 3 * 2 * 2 * 2  # float per SNR; 3 stages x SNR x Q x W
    assert spec.n_chunks == 3 and [spec.chunk_size(c) for c in range(3)] == [50, 50, 20]
    assert {p["key"] for p in spec.points} >= {"m0/float/5dB", "m0/hardware/15dB/Q4/W12"}
    assert len(spec.groups()) == 2


def test_seed_lists_are_an_axis(tmp_path, model):
    one = read_spec(_spec(tmp_path, model, 'stages = ["float"]\nsnr_db = [5]\nseed = 7\n'))
    assert [p["key"] for p in one.points] == ["m0/float/5dB"] and one.to_dict()["seed"] == 7
    two = read_spec(_spec(tmp_path, model, 'stages = ["float"]\nsnr_db = [5]\nseed = [7, 8]\n'))
    assert [p["key"] for p in two.points] == ["m0/float/5dB/s7", "m0/float/5dB/s8"]
    assert two.groups() == [(0, 5.0, 7), (0, 5.0, 8)]
    result = _run(two, tmp_path / "s", scheduler="sync")
    means = [p["mean"] for p in result["points"]]
    assert means[0] != means[1]  # other channels
    assert means[0] == _run(one, tmp_path / "t", scheduler="sync")["points"][0]["mean"]


@pytest.mark.parametrize("body, words", [
    ("colour = 3\n", "unknown key(s) colour"),
    ('stages = ["hardware"]\nphase_bits = [0]\n', "phase_bits must be a list of integers in 1..16"),
    ('channels = -5\n', "channels must be an integer"),
    ('[stop]\nci = "tight"\n', "stop.ci must be a finite number"),
    ('[[points]]\nmodel = "nowhere"\nstage = "float"\n', "is not a model directory"),
    ('stages = ["float"]\nsnr_db = [5, 5]\n', "is listed twice"),
    ("models = [\n", "not valid TOML"),
    ('stages = ["hardware"]\nprecision = "p.toml"\n', "precision must be a list"),
    ("stages = []\n", "stages must be a list of names"),
])
def test_spec_errors_are_one_line(tmp_path, model, body, words):
    path = tmp_path / "spec.toml"
    path.write_text((f'models = ["{model}"]\n' if not body.startswith("models") else "") + body)
    with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")) as info:
        read_spec(path)
    assert "\n" not in str(info.value)


def test_chunk_seeds():
    assert chunk_seed(2026, 0) == 2026  # chunk 0 is what `evaluate --seed 2026` draws
    seeds = [chunk_seed(2026, c) for c in range(1, 200)]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2 ** 63 for s in seeds)
    assert seeds == [chunk_seed(2026, c) for c in range(1, 200)] and chunk_seed(2027, 1) != seeds[0]


def test_statistics_merge_and_intervals():
    rng = np.random.default_rng(0)
    r = rng.gamma(4.0, 2.0, 900)
    x = 0.9 * r + rng.normal(0, 0.3, 900)
    s = merge(chunk_stats(x[i:i + 300], r[i:i + 300]) for i in range(0, 900, 300))
    whole = chunk_stats(x, r)
    assert all(math.isclose(s[k], whole[k], rel_tol=1e-12) for k in ("sum", "sumsq", "ref_sum", "ref_sumsq", "cross"))
    out = summarize(s)
    assert math.isclose(out["mean"], x.mean(), rel_tol=1e-12)
    assert math.isclose(out["ci95"], 1.959963984540054 * x.std(ddof=1) / 30.0, rel_tol=1e-9)
    ratio = x.mean() / r.mean()  # delta method, written out directly on the paired samples
    direct = 1.959963984540054 * np.sqrt(np.var(x - ratio * r, ddof=1) / 900) / r.mean()
    assert math.isclose(out["retention"], ratio, rel_tol=1e-12)
    assert math.isclose(out["retention_ci95"], direct, rel_tol=1e-6)
    assert merge([chunk_stats(x, r, 3), chunk_stats(x, r, 4)])["events"] == 7
    assert merge([chunk_stats(x, r, 3), chunk_stats(x, r)])["events"] == -1


def test_pareto_front_is_the_undominated_set():
    from hbf_edge.sweep._summary import pareto

    rng = np.random.default_rng(1)
    records = [{"key": str(i), "cost": float(c), "retention": float(q)}
               for i, (c, q) in enumerate(zip(rng.permutation(60), rng.random(60)))]
    undominated = {r["key"] for r in records
                   if not any(o["cost"] <= r["cost"] and o["retention"] >= r["retention"] and o is not r
                              for o in records)}
    front = pareto(records, "cost")
    assert {r["key"] for r in front} == undominated
    assert [r["cost"] for r in front] == sorted(r["cost"] for r in front)
    lower = {r["key"] for r in records  # an error rate: lower is better
             if not any(o["cost"] <= r["cost"] and o["retention"] <= r["retention"] and o is not r for o in records)}
    assert {r["key"] for r in pareto(records, "cost", higher_is_better=False)} == lower


def test_stopping_rule():
    rows = chunk_stats(np.full(100, 2.0) + np.linspace(-0.01, 0.01, 100), np.ones(100), events=40)
    assert stopped(rows, StopRule()) is None
    assert "interval" in stopped(rows, StopRule(ci=0.01))
    assert stopped(rows, StopRule(ci=1e-9)) is None
    assert "40 error events" == stopped(rows, StopRule(errors=30))
    assert stopped(rows, StopRule(errors=30, min_channels=1000)) is None


def _run(spec, out, **kwargs):
    quant, export = _stages()
    return run_sweep(spec, out, quant, export, progress=False, say=lambda line: None, **kwargs)


def test_sweep_inline_equals_dask_and_the_retention_table(tmp_path, model):
    from distributed import Client

    from hbf_edge.baselines import sum_rate_np
    from hbf_edge.families import CORE
    from hbf_edge.hw.precision import PrecisionConfig
    from hbf_edge.modeldir import load_model
    from hbf_edge.quant.upga.ptq import ptq_design
    from hbf_edge.quant.upga.stage import precoder_format

    spec = _spec(tmp_path, model, GRID)
    inline = _run(spec, tmp_path / "a", scheduler="sync")
    with Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        _run(spec, tmp_path / "b", client=client)
    a, b = pq.read_table(tmp_path / "a" / "results.parquet"), pq.read_table(tmp_path / "b" / "results.parquet")
    assert a.num_rows == len(inline["points"]) * 3 and a.equals(b)
    # chunk 0 of a PTQ point: `quantize`'s PTQ baseline on the channels `evaluate --seed 7 --count 50` draws
    float_model, config = load_model(model)
    H = CORE.get("upga").draw_channels(config, 50, 7)
    rows = {(r["key"], r["chunk"]): r for r in a.to_pylist()}
    p_t, n = np.full(50, 10 ** 1.5), np.ones(50)
    for q in (2, 4):
        spec_q = PrecisionConfig.from_bits(config.spec, config.n_layers, q, precoder_format(8)).layer_specs()[-1]
        _, Fq, Wq = ptq_design(float_model, H, p_t, n, spec_q, "refit")
        row = rows[(f"m0/ptq_refit/15dB/Q{q}/W8", 0)]
        assert math.isclose(row["sum"] / 50, float(sum_rate_np(H, Fq @ Wq, n).mean()), rel_tol=1e-12)
    for p in inline["points"]:  # table bits and time: the datapath's; a PTQ design's time includes the float network
        assert (p["lut_bits"] is not None) == (p["stage"] == "hardware")
        assert p["us_per_channel"] > 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    hardware = {p["key"] for p in inline["points"] if p["stage"] == "hardware"}
    assert set(summary["pareto_lut_bits"]) == {"5", "15"}
    assert all(front and set(front) <= hardware for front in summary["pareto_lut_bits"].values())
    assert {p["key"] for p in summary["points"]} == {p["key"] for p in inline["points"]}
    assert (tmp_path / "a" / "retention_vs_q.png").is_file() and (tmp_path / "a" / "pareto.png").is_file()


def test_sweep_resumes_only_what_is_missing(tmp_path, model):
    spec = _spec(tmp_path, model, GRID)
    first = _run(spec, tmp_path / "s", scheduler="sync")
    table = pq.read_table(tmp_path / "s" / "results.parquet")
    parts = sorted((tmp_path / "s" / "parts").iterdir())
    for p in parts[::2]:  # as if the sweep had been killed before these tasks finished
        p.unlink()
    again = _run(spec, tmp_path / "s", scheduler="sync")
    assert 0 < again["computed_rows"] < first["computed_rows"]
    assert again["resumed_rows"] + again["computed_rows"] == first["computed_rows"]
    assert pq.read_table(tmp_path / "s" / "results.parquet").equals(table)
    assert _run(spec, tmp_path / "s", scheduler="sync")["computed_rows"] == 0


def test_stopping_rule_keeps_a_prefix_of_chunks(tmp_path, model):
    body = 'stages = ["float", "hardware"]\nsnr_db = [10]\nphase_bits = [1, 6]\nword_bits = [12]\n' \
           'channels = 400\nchunk = 40\nseed = 3\n[stop]\nci = 0.02\n'
    result = _run(_spec(tmp_path, model, body), tmp_path / "s", scheduler="sync")
    kept = {p["key"]: p["chunks"] for p in result["points"]}
    assert any(k < 10 for k in kept.values())
    for p in result["points"]:
        assert p["ci95"] <= 0.02 * p["mean"] or p["chunks"] == 10
    rows = pq.read_table(tmp_path / "s" / "results.parquet").to_pylist()
    for key, k in kept.items():
        assert sorted(r["chunk"] for r in rows if r["key"] == key) == list(range(k))


def test_qat_point_is_the_retrained_kernel(tmp_path, model):
    from hbf_edge.families import CORE
    from hbf_edge.families.upga.hardware import hardware_sum_rates
    from hbf_edge.modelfiles import read_model_dir

    body = 'stages = ["qat"]\nsnr_db = [10]\nphase_bits = [3]\nword_bits = [12]\nchannels = 30\nchunk = 30\n' \
           '[qat]\nepochs = 1\ntrain_size = 20\ncount = 10\n'
    result = _run(_spec(tmp_path, model, body), tmp_path / "s", scheduler="sync")
    qdir = tmp_path / "s" / "qat" / "m0_qat_10dB_Q3_W12"
    config, _ = read_model_dir(qdir)
    assert config.precision["default"]["phase_bits"] == 3 and config.quantization["method"] == "qat"
    H = CORE.get("upga").draw_channels(read_model_dir(model)[0], 30, 2026)
    assert math.isclose(result["points"][0]["mean"], hardware_sum_rates(qdir, H, [10.0])[0], rel_tol=1e-12)
    assert result["points"][0]["lut_bits"] > 0


def test_lut_bits_count_the_bundle_tables(model):
    from hbf_edge.export.upga.stage import EXPORT
    from hbf_edge.hw.precision import PrecisionConfig
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.quant.upga.stage import precoder_format

    config, _ = read_model_dir(model)
    precision = PrecisionConfig.from_bits(config.spec, 3, 4, precoder_format(12))
    lut, step = config.spec.lut.word_bits, config.spec.step.word_bits
    expected = 3 * 2 * 16 * lut + 2 * 16 * lut + 2 * 16 * 8 + (3 * 1 + 3) * step
    assert EXPORT.lut_bits(model, precision) == expected


def test_cli_refuses_bad_input_in_one_line(tmp_path, model):
    cases = [[str(tmp_path / "missing.toml"), "--out", str(tmp_path / "o")]]
    (tmp_path / "notsweep").mkdir()
    (tmp_path / "notsweep" / "x").write_text("keep me")
    cases.append([str(_spec(tmp_path, model, 'stages = ["float"]\nchannels = 10\nchunk = 10\n')), "--out",
                  str(tmp_path / "notsweep"), "--scheduler", "sync"])
    cases.append(cases[-1][:-2] + ["--overwrite"])  # no cluster started, and --overwrite does not touch it either
    for args in cases:
        proc = subprocess.run([sys.executable, "-m", "hbf_edge", "sweep", *args], capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "error" in proc.stderr, proc.stderr
        assert "dashboard" not in proc.stdout
    assert (tmp_path / "notsweep" / "x").read_text() == "keep me"


class _ErrorRateHooks:
    """Sweep hooks of an error-rate metric (as an SER family's would be): each channel is one
    symbol, in error with probability 0.1 (seeded by the channels themselves)."""

    stages = ("float", "detector")
    datapath_stages = ()
    metric, unit, higher_is_better = "ser", "", False

    def check(self, model_dir, point):
        pass

    def precision(self, model_dir, point):
        return None

    def chunk(self, model_dir, H, snr_db, points, designs=None):
        u = np.abs(H[:, 0, 0]) % 1.0
        errors = (u < 0.1).astype(float)
        return {"reference": np.full(len(u), 0.5), "values": {p["key"]: errors for p in points},
                "seconds": {p["key"]: 0.0 for p in points},
                "events": {p["key"]: int(errors.sum()) for p in points}}


def test_error_events_stop_a_point(tmp_path, model):
    class Stage:
        sweep = _ErrorRateHooks()

    body = 'stages = ["detector"]\nsnr_db = [10]\nchannels = 2000\nchunk = 50\nseed = 4\n[stop]\nerrors = 12\n'
    result = run_sweep(_spec(tmp_path, model, body), tmp_path / "s", lambda family: Stage(), None,
                       scheduler="sync", progress=False, say=lambda line: None)
    point = result["points"][0]
    rows = pq.read_table(tmp_path / "s" / "results.parquet").to_pylist()
    events = np.cumsum([r["events"] for r in sorted(rows, key=lambda r: r["chunk"])])
    assert point["events"] == events[-1] >= 12 and (len(events) == 1 or events[-2] < 12)  # the first chunk to reach it
    assert point["chunks"] < 40 and point["stopped"] == f"{point['events']} error events"
    assert point["mean"] == pytest.approx(point["events"] / point["n"])


def test_hardware_point_is_the_kernel_of_a_ptq_model(tmp_path, model):
    """The hardware stage (the float steps at the point's Q and W) equals the integer kernel of
    the directory `hbf-edge quantize --method ptq -Q 3 -B 10 --output-stage none` writes."""
    from hbf_edge.baselines import sum_rate_np
    from hbf_edge.cli import main
    from hbf_edge.families import CORE
    from hbf_edge.kernels import REGISTRY as KERNELS
    from hbf_edge.modelfiles import read_model_dir

    assert main(["quantize", str(model), "--out", str(tmp_path / "q"), "--method", "ptq", "-Q", "3", "-B", "10",
                 "--output-stage", "none", "--count", "4", "-q"]) == 0
    body = 'stages = ["hardware"]\nsnr_db = [15]\nphase_bits = [3]\nword_bits = [10]\nchannels = 40\nchunk = 40\n'
    point = _run(_spec(tmp_path, model, body), tmp_path / "s", scheduler="sync")["points"][0]
    H = CORE.get("upga").draw_channels(read_model_dir(model)[0], 40, 2026)
    design = KERNELS.get("upga").forward_hw(tmp_path / "q", H, snr_db=15.0)
    assert point["mean"] == pytest.approx(sum_rate_np(H, design["F"] @ design["W"], np.ones(40)).mean(), rel=1e-12)
