"""The family contract: every registered family, on its ``tiny()`` settings, through every stage.

Parametrised over the registry, plus a test-only family (``tests/families/pga_fixed``) that is
registered through the public path (:func:`hbf_edge.families.register_family`) and touches no
shared file.  A family is accepted when it passes:

* the CLI chain train -> evaluate -> quantize -> export -> simulate -> profile, exit code 0;
* its model directories round-trip (format 2) and hold the arrays its core stage names;
* torch = the float kernel; the quantized torch network = the hardware kernel, code for code
  and word for word;
* the bundle reads back, and (when it drives phase shifters) replays in the controller simulator
  with no code mismatch;
* the evaluation, retention and profile results carry the common keys.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hbf_edge.cli import main
from hbf_edge.families import CORE, register_family

_HERE = Path(__file__).resolve().parent.parent / "families" / "pga_fixed" / "__init__.py"
_spec = importlib.util.spec_from_file_location("hbf_test_families.pga_fixed", _HERE)
PGA_FIXED = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = PGA_FIXED
_spec.loader.exec_module(PGA_FIXED)
register_family(PGA_FIXED)

FAMILIES = ["upga", "upganet", "deepfp", "pga_fixed"]


def _argv(settings) -> list[str]:
    """CLI arguments that rebuild a settings dataclass (every field not at its default)."""
    out = []
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if value == default or value is None:
            continue
        flag = f"--{f.name.replace('_', '-')}"
        if value is True:
            out.append(flag)
        elif isinstance(value, list):
            out += [flag, *map(str, value)]
        else:
            out += [flag, str(value)]
    return out


@pytest.fixture(scope="module", params=FAMILIES)
def chain(request, tmp_path_factory):
    """Train, evaluate, quantize (PTQ: deterministic and quick), export, simulate and profile one
    family through the CLI; returns (family, root)."""
    family = request.param
    root = tmp_path_factory.mktemp(family)
    tiny = dataclasses.replace(CORE.get(family).spec.tiny(), out=root / "m")
    steps = [
        ["train", family, *_argv(tiny)],
        # family options that shorten the evaluation's fixed-size studies (UPGANet's convergence
        # curves: 120 PGA iterations x 8 curves in torch, 9 of its 12 s by default)
        ["evaluate", str(root / "m"), "--count", "6", "-q", *({"deepfp": ["--fastfp-iterations", "3",
                                                                               "--time-samples", "2"],
                                                                    "upganet": ["--snr", "10", "--iterations", "8"]}
                                                                    .get(family, ["--snr", "10"]))],
        ["quantize", str(root / "m"), "--out", str(root / "q"), "--method", "ptq", "--count", "6", "-q"],
        ["export", str(root / "q"), "--out", str(root / "b"), "--count", "4"],
        ["profile", str(root / "q"), "--batches", "2", "--repeat", "1", "-q", "--json"],
    ]
    for argv in steps:
        assert main(argv) == 0, argv
    if (root / "b" / "lut.json").is_file():  # a bundle that drives phase shifters
        assert main(["simulate", str(root / "b"), "--out", str(root / "sim")]) == 0
    return family, root


def test_stages_satisfy_the_protocols(chain):
    from hbf_edge.export import REGISTRY as EXPORT
    from hbf_edge.families import CoreStage, ExportStage, KernelStage, QuantStage
    from hbf_edge.kernels import REGISTRY as KERNELS
    from hbf_edge.quant import REGISTRY as QUANT

    family, _ = chain
    assert isinstance(CORE.get(family), CoreStage) and isinstance(KERNELS.get(family), KernelStage)
    assert isinstance(QUANT.get(family), QuantStage) and isinstance(EXPORT.get(family), ExportStage)


def test_model_dirs_round_trip_with_the_family_arrays(chain, tmp_path):
    from hbf_edge.modelfiles import read_model_dir, write_model_dir

    family, root = chain
    for name in ("m", "q"):
        raw = json.loads((root / name / "config.json").read_text())
        assert raw["format_version"] == 2 and raw["family"] == family and "family_config" in raw
        config, arrays = read_model_dir(root / name)
        assert {k: v.shape for k, v in arrays.items()} == CORE.get(family).expected_arrays(config)
        write_model_dir(tmp_path / name, config, arrays)
        again, arrays2 = read_model_dir(tmp_path / name)
        assert again.to_dict() == config.to_dict() and all(np.array_equal(arrays[k], arrays2[k]) for k in arrays)


def _channels(family, root, count=5):
    from hbf_edge.modelfiles import read_model_dir

    config, _ = read_model_dir(root / "m")
    return CORE.get(family).draw_channels(config, count, seed=11)


def test_torch_equals_the_float_kernel(chain):
    from hbf_edge.kernels import REGISTRY

    family, root = chain
    core, kernels = CORE.get(family), REGISTRY.get(family)
    H = _channels(family, root)
    model, _ = core.load(root / "m")
    ours, ref = kernels.forward(kernels.load(root / "m"), H), core.torch_forward(model, H)
    assert set(ours) >= set(ref)
    for key, value in ref.items():
        assert np.max(np.abs(ours[key] - value)) <= 1e-9 * max(1.0, np.max(np.abs(value))), key


def test_quantized_torch_equals_the_hardware_kernel(chain):
    from hbf_edge.kernels import REGISTRY as KERNELS
    from hbf_edge.quant import REGISTRY as QUANT

    family, root = chain
    if not getattr(QUANT.get(family), "hardware_exact", False):
        pytest.skip(f"{family}: its quantized torch network is not a bit-exact model of its integer kernel "
                    "(the kernel is checked against its integer reference instead)")
    H = _channels(family, root)
    hw, qat = KERNELS.get(family).forward_hw(root / "q", H), QUANT.get(family).torch_forward_hw(root / "q", H)
    compared = [key for key in qat if key in ("codes", "F_codes", "U_codes") or key.endswith("_words")]
    for key in compared:  # codes and integer words: equal
        assert np.array_equal(hw[key], qat[key]), key
    for key in ("W", "V"):  # word for word: the words times one common scale
        if key in qat:
            compared.append(key)
            assert np.max(np.abs(hw[key] - qat[key])) <= 1e-12 * np.max(np.abs(qat[key])), key
    assert compared, f"{family}: torch_forward_hw returned nothing to compare"


def test_bundle_reads_back_and_replays(chain):
    from hbf_edge.export import read_bundle

    family, root = chain
    manifest = read_bundle(root / "b").manifest
    assert manifest["schema_version"] == 2 and manifest["family"] == family and manifest["scoring"]
    assert manifest["verified"]  # the exporter checked its ONNX graph(s) against torch or the kernel
    if (root / "sim").exists():
        sim = json.loads((root / "sim" / "simulate.json").read_text())
        assert sim["code_mismatches"] == {"direct": 0, "ram": 0}
        assert not any(sim["rejected_transactions"].values())


def test_results_carry_the_common_schema(chain):
    from hbf_edge.results import check

    family, root = chain
    results = json.loads((root / "m" / "eval" / "results.json").read_text())
    assert check(results) == "evaluation" and results["family"] == family and results["n_channels"] == 6
    assert set(results["metrics"]) == set(CORE.get(family).spec.metrics)
    retention = json.loads((root / "q" / "retention.json").read_text())
    assert check(retention) == "retention" and retention["family"] == family and retention["method"] == "ptq"
    profile = json.loads((root / "q" / "profile" / "profile.json").read_text())
    assert check(profile) == "profile" and profile["family"] == family and set(profile["measured"]) == {"2"}
    for backend in profile["measured"]["2"].values():
        assert backend["whole_us_per_channel"] > 0


def test_sweep_hooks_run_every_stage_but_qat(chain, tmp_path):
    """A family whose quant stage has ``sweep`` hooks: a sweep of its float model over every
    stage it names (QAT aside: ``tests/hbf_edge/_core/test_sweep.py``), inline, with the float
    point equal to ``evaluate``'s sum rate on the same channels."""
    from hbf_edge.export import REGISTRY as EXPORTS
    from hbf_edge.families._protocol import SweepHooks
    from hbf_edge.kernels import REGISTRY as KERNELS
    from hbf_edge.modelfiles import read_model_dir
    from hbf_edge.quant import REGISTRY as QUANTS
    from hbf_edge.sweep import run_sweep

    family, root = chain
    hooks = getattr(QUANTS.get(family), "sweep", None)
    if hooks is None:
        pytest.skip(f"{family} has no sweep hooks")
    assert isinstance(hooks, SweepHooks)
    stages = [s for s in hooks.stages if s != "qat"]
    (tmp_path / "s.toml").write_text(f'models = ["{root / "m"}"]\nstages = {json.dumps(stages)}\nsnr_db = [10]\n'
                                     'phase_bits = [3]\nword_bits = [10]\nchannels = 6\nchunk = 6\n')
    result = run_sweep(tmp_path / "s.toml", tmp_path / "out", QUANTS.get, EXPORTS.get, scheduler="sync",
                       progress=False, say=lambda line: None)
    assert [p["stage"] for p in result["points"]] == stages and all(p["n"] == 6 for p in result["points"])
    evaluation = json.loads((root / "m" / "eval" / "results.json").read_text())  # 6 channels, seed 2026, 10 dB
    q_config, _ = read_model_dir(root / "q")  # the chain's PTQ model: the same steps at its precision
    default = q_config.precision["default"]
    if "hardware" in stages and q_config.output_xi is None and not q_config.precision.get("layers"):
        (tmp_path / "h.toml").write_text(f'models = ["{root / "m"}"]\nstages = ["hardware"]\nsnr_db = [10]\n'
                                         f'phase_bits = [{default["phase_bits"]}]\n'
                                         f'word_bits = [{default["precoder"]["word_bits"]}]\nchannels = 6\nchunk = 6\n')
        hw = run_sweep(tmp_path / "h.toml", tmp_path / "h", QUANTS.get, EXPORTS.get, scheduler="sync",
                       progress=False, say=lambda line: None)
        H = CORE.get(family).draw_channels(q_config, 6, 2026)
        design = KERNELS.get(family).forward_hw(root / "q", H, snr_db=10.0)
        from hbf_edge.baselines import sum_rate_np

        rate = sum_rate_np(H, design["F"] @ design["W"], np.ones(6)).mean()
        assert hw["points"][0]["mean"] == pytest.approx(rate, rel=1e-12)
    else:  # UPGA's and the test family's PTQ model carry the default output stage
        assert family != "upganet"
    network = next(iter(evaluation["metrics"]["sum_rate"]))  # an evaluation lists the network first
    assert network.startswith(CORE.get(family).spec.runs_on)
    assert result["points"][0]["mean"] == pytest.approx(evaluation["metrics"]["sum_rate"][network][0], rel=1e-9)


def test_the_test_family_is_listed_and_refuses_learning(capsys):
    assert main(["families"]) == 0
    assert "pga_fixed" in capsys.readouterr().out
    assert main(["train", "pga_fixed", "--out", "never", "--epochs", "3"]) == 2
    assert "does not learn" in capsys.readouterr().err and not Path("never").exists()
