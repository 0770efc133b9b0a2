"""The pilot boost (`train jcehb --pilot-boost DB`): the pilots observed DB above the data SNR, the
same in the torch network, the kernels' observation, the RLS baselines and the model directory;
0 dB (and a directory without the key) is the observation as before."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hbf_edge.cli import main
from hbf_edge.errors import ConfigError
from hbf_edge.families import CORE
from hbf_edge.families.jcehb.model import JcehbNet
from hbf_edge.families.jcehb.system import JcehbSizes, jcehb_channels, noise_power, pilot_noise
from hbf_edge.kernels.jcehb.forward import jcehb_observe, load_jcehb

SIZES = JcehbSizes(n_tx=8, n_rf_tx=4, n_rx=4, n_rf_rx=2, n_users=2, n_streams=1)
TINY = ["-N", "8", "--n-rf-tx", "4", "--n-rx", "4", "--n-rf-rx", "2", "-K", "2", "-d", "1", "-L", "4", "-I", "2",
        "--epochs", "1", "--train-size", "20", "--val-size", "10", "--batch-size", "10", "--ssca-iterations", "2", "-q"]


def test_the_boost_scales_the_pilot_noise_only():
    H = torch.from_numpy(jcehb_channels(6, SIZES, seed=1))
    noise = torch.from_numpy(pilot_noise(6, SIZES, 4, 3))
    nu = noise_power(10.0)
    plain, boosted = JcehbNet(SIZES, 4, 2, "per-chain", "exact"), JcehbNet(SIZES, 4, 2, "per-chain", "exact",
                                                                            pilot_boost_db=20.0)
    with torch.no_grad():
        He = plain.equivalent(H)
        clean = He @ plain.pilots()
        e0, e20 = plain.observe(He, noise, nu) - clean, boosted.observe(He, noise, nu) - clean
        np.testing.assert_allclose(e20.numpy(), 0.1 * e0.numpy(), rtol=1e-12, atol=1e-15)  # 20 dB: noise / 10
        # the data side does not move: HBDUN on the true channel is the same design
        a, b = plain.digital(He, nu), boosted.digital(He, nu)
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    for bad in (float("nan"), 100.0, True):
        with pytest.raises(ConfigError, match="pilot boost"):
            JcehbNet(SIZES, 4, 2, pilot_boost_db=bad)


def test_the_model_directory_the_kernel_and_the_baselines_follow_the_boost(tmp_path, capsys):
    assert main(["train", "jcehb", "--out", str(tmp_path / "b"), "--pilot-boost", "20", *TINY]) == 0
    assert main(["train", "jcehb", "--out", str(tmp_path / "z"), *TINY]) == 0
    boosted = json.loads((tmp_path / "b" / "config.json").read_text())["family_config"]
    assert boosted["pilot_boost_db"] == 20.0
    assert "pilot_boost_db" not in json.loads((tmp_path / "z" / "config.json").read_text())["family_config"]
    model, _ = CORE.get("jcehb").load(tmp_path / "b")
    assert model.pilot_boost_db == 20.0
    # the float kernel observes as the network does
    H = jcehb_channels(5, SIZES, seed=2)
    noise = pilot_noise(5, SIZES, 4, 7)
    nu = noise_power(10.0)
    with torch.no_grad():
        want = model.observe(model.equivalent(torch.from_numpy(H)), torch.from_numpy(noise), nu).numpy()
    np.testing.assert_allclose(jcehb_observe(load_jcehb(tmp_path / "b"), H, noise, nu), want, rtol=1e-10, atol=1e-12)
    # the RLS baselines see the same pilot noise: 20 dB less NMSE at 90 pilots, the network's rows too
    for name in ("b", "z"):
        assert main(["evaluate", str(tmp_path / name), "--count", "20", "--snr", "10", "-q",
                     "--out", str(tmp_path / f"e{name}")]) == 0
    eb, ez = (json.loads((tmp_path / f"e{n}" / "results.json").read_text()) for n in ("b", "z"))
    ref = "rls90_sca70"
    db = {n: 10 * np.log10(r["metrics"]["nmse"][ref][0]) for n, r in (("b", eb), ("z", ez))}
    assert db["b"] == pytest.approx(db["z"] - 20.0, abs=1.0), db
    assert eb["pilot_boost_db"] == 20.0 and ez["pilot_boost_db"] == 0.0
    assert eb["metrics"]["sum_rate"][ref][0] > ez["metrics"]["sum_rate"][ref][0]
    capsys.readouterr()
    assert main(["train", "jcehb", "--out", str(tmp_path / "x"), "--pilot-boost", "90", *TINY]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pilot boost must be a number of dB in -30..60" in err
    assert not (tmp_path / "x").exists()
