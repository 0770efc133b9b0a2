"""`hbf-edge profile JCEHB_QDIR --numerical`: the ranges are the float kernel's values on the
profile's slots, the counters the integer kernel's, the advisor's formats keep its target and its
file is a precision file; options of the other mode are refused in one line."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from hbf_edge.cli import main
from hbf_edge.families import CORE
from hbf_edge.families.jcehb.config import DEFAULT_NOISE_SEED
from hbf_edge.families.jcehb.formats import JCEHB_FORMATS, JcehbFormats
from hbf_edge.hw.precision import shared_formats
from hbf_edge.kernels import REGISTRY

@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """The tiny quantized network of the kernels' tests, and the same directory as a float model."""
    from helpers import jcehb_quantized_dir

    root = tmp_path_factory.mktemp("jn")
    jcehb_quantized_dir(root / "q", "exact")
    shutil.copytree(root / "q", root / "m")
    cfg = json.loads((root / "m" / "config.json").read_text())
    cfg["quantization"] = None
    (root / "m" / "config.json").write_text(json.dumps(cfg))
    return root


def test_ranges_counters_and_the_advisor(dirs, capsys):
    q, out = dirs / "q", dirs / "num"
    assert main(["profile", str(q), "--numerical", "--count", "40", "--snr", "15", "0", "--seed", "3", "--out", str(out),
                 "-q"]) == 0
    res = json.loads((out / "numerical.json").read_text())
    assert res["schema"].startswith("hbf-edge/numerical/") and res["family"] == "jcehb" and res["snr_db"] == [15, 0]
    # independent: the kernel stage on the same slots (channels of seed 3, pilot noise of seed 3 + default)
    _, config = CORE.get("jcehb").load(q)
    H = CORE.get("jcehb").draw_channels(config, 40, 3)
    kernels = REGISTRY.get("jcehb")
    total = {}
    for snr in (15.0, 0.0):
        key = f"{snr:g} dB"
        design = kernels.forward(kernels.load(q), H, snr, DEFAULT_NOISE_SEED + 3)
        for fmt, name in (("heq", "H_hat"), ("precoder", "F_bb"), ("combiner", "W_bb")):
            want = max(np.abs(design[name].real).max(), np.abs(design[name].imag).max())
            assert res["sites"][fmt][key]["max"] == pytest.approx(want, rel=1e-12)
        hw = kernels.forward_hw(q, H, snr_db=snr, noise_seed=DEFAULT_NOISE_SEED + 3)
        assert res["overflows"]["per_snr"][key] == hw["counters"]
        total = {k: total.get(k, 0) + v for k, v in hw["counters"].items()}
    assert res["overflows"]["total"] == total
    # the received pilots grow with the noise: less headroom at 0 dB than at 15
    assert res["sites"]["received"]["0 dB"]["max"] > res["sites"]["received"]["15 dB"]["max"]
    s = res["sites"]["precoder"]["15 dB"]
    assert s["headroom_bits"] == pytest.approx(np.log2(s["largest"] / s["max"]))
    adv = res["advisor"]
    assert adv["target"] == 0.99 and adv["retention"]["advised"] >= 0.99  # the worse of the two SNRs
    assert adv["total_word_bits"]["advised"] < adv["total_word_bits"]["model"]  # 16-bit words have slack
    assert [st["format"] for st in adv["steps"]] == ["accumulator", "coef", "received", "pilot", "heq", "precoder",
                                                     "combiner"]
    assert (out / "numerical.png").stat().st_size > 0
    # the advisor's file is a precision file holding its formats (what quantize --precision reads)
    got = shared_formats(out / "advised_precision.toml", JCEHB_FORMATS)
    assert JcehbFormats(**got).to_dict() == adv["formats"]


def test_options_of_the_other_mode_and_a_float_model_are_refused(dirs, capsys):
    for argv, needle in [(["profile", str(dirs / "q"), "--count", "10"], "without --numerical"),
                         (["profile", str(dirs / "q"), "--numerical", "--batches", "2"], "to --numerical"),
                         (["profile", str(dirs / "m"), "--numerical", "--out", str(dirs / "x")], "float model")]:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], (argv, err)
    assert not (dirs / "x").exists()
